/** The simulated API server as kubectl and client-node 2.x see it; its parts are in api/. */
export { applyJsonPatch, applyMergePatch } from './api/patch-documents.ts';
export { startApiServer, type ApiServerOptions, type SimulatedApiServer } from './api/server.ts';

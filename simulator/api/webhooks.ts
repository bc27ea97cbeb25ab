/**
 * Validating admission webhooks: the API server calls them after the object passed its own
 * validation and before storing it (kubernetes/apiserver `pkg/registry/generic/registry/
 * store.go`: `rest.BeforeCreate`, then `createValidation`). The one a cluster with Istio has
 * is Istio's `validation.istio.io`, registered by the install and served by istiod.
 */
import {
  ISTIO_VALIDATION_WEBHOOK,
  istioInvalidConfiguration,
} from '../../harness/facts/istio-validation.ts';
import { webhookDenial } from '../../harness/facts/kube-api.ts';
import { ApiError } from '../store/errors.ts';
import type { KubeObject } from '../types.ts';
import { validateIstioConfig } from './istio-webhook.ts';
import type { ResourceCall } from './objects.ts';

/** A webhook's rejection: code 400, no reason, as `ToStatusErr` builds it. */
export class WebhookDenial extends ApiError {
  constructor(webhook: string, message: string) {
    super(400, '', webhookDenial(webhook, message));
  }

  override toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      code: this.code,
    };
  }
}

/**
 * Runs the validating webhooks that match a CREATE or UPDATE of `object` (main resource
 * only: the webhook's rules name resources, not subresources). Throws {@link WebhookDenial};
 * adds the webhooks' warnings to the call.
 */
export function runValidatingWebhooks(call: ResourceCall, object: KubeObject): void {
  const { type, subresource } = call.resource;
  if (subresource !== undefined) return;
  if (!(ISTIO_VALIDATION_WEBHOOK.groups as readonly string[]).includes(type.group)) return;
  // Registered by the Istio install, which also creates the istiod Service it calls
  // (`istiod`, or `istiod-<revision>`, labelled app=istiod by the chart's service.yaml).
  const { label } = ISTIO_VALIDATION_WEBHOOK.service;
  if (call.store.list('Service', { labelSelector: label }).length === 0) return;
  // NamespaceLifecycle admission runs first and refuses content for a missing namespace.
  const objectNamespace = object.metadata.namespace;
  if (
    type.namespaced &&
    call.store.get('Namespace', undefined, objectNamespace ?? '') === undefined
  )
    return;
  const verdict = validateIstioConfig(object);
  call.warnings.push(...verdict.warnings);
  if (verdict.error !== undefined)
    throw new WebhookDenial(
      ISTIO_VALIDATION_WEBHOOK.name,
      istioInvalidConfiguration(verdict.error),
    );
}

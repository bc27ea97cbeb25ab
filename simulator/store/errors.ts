/** Failures shaped as the API server's `Status`, so clients see the real codes and messages. */
import { qualifiedResource, type ResourceType } from './resource-types.ts';

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** `Status.details`. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

/** A failure the API server reports as a `Status` object with `code` and `reason`. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** The `Status` body the real API server would send. */
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details ?? {},
      code: this.code,
    };
  }
}

function resourceDetails(type: ResourceType, name: string): StatusDetails {
  return type.group === ''
    ? { name, kind: type.plural }
    : { name, group: type.group, kind: type.plural };
}

/** 404 `<resource> "name" not found`. */
export function notFoundError(type: ResourceType, name: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `${qualifiedResource(type)} "${name}" not found`,
    resourceDetails(type, name),
  );
}

/** 409 `<resource> "name" already exists`. */
export function alreadyExistsError(type: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualifiedResource(type)} "${name}" already exists`,
    resourceDetails(type, name),
  );
}

/** 409 Conflict on a stale resourceVersion. */
export function conflictError(type: ResourceType, name: string, why: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": ${why}`,
    resourceDetails(type, name),
  );
}

/** 403 `<resource> "name" is forbidden: why`. */
export function forbiddenError(
  type: ResourceType,
  name: string,
  why: string,
  causes?: StatusCause[],
): ApiError {
  return new ApiError(
    403,
    'Forbidden',
    `${qualifiedResource(type)} "${name}" is forbidden: ${why}`,
    {
      ...resourceDetails(type, name),
      ...(causes === undefined ? {} : { causes }),
    },
  );
}

/** 422 `<Kind> "name" is invalid: <causes>`, with the causes in the details. */
export function invalidError(
  kind: { kind: string; group: string },
  name: string,
  causes: StatusCause[],
): ApiError {
  const rendered = causes.map((cause) =>
    cause.field === undefined ? cause.message : `${cause.field}: ${cause.message}`,
  );
  const list = rendered.length === 1 ? (rendered[0] ?? '') : `[${rendered.join(', ')}]`;
  const qualified = kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`;
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${list}`, {
    name,
    ...(kind.group === '' ? {} : { group: kind.group }),
    kind: kind.kind,
    causes,
  });
}

/** 400 BadRequest with a free-form message. */
export function badRequestError(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

import { applyDecorators, type INestApplication } from '@nestjs/common';
import {
  ApiBody,
  ApiExtension,
  ApiHeader,
  ApiQuery,
  ApiResponse,
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type SchemaObject,
} from '@nestjs/swagger';
import { z } from 'zod';
import { ApiError, CONTRACT_ERROR_CODES, type ApiErrorCode } from '../http/api-error';

/** UI at /docs, the document at /docs-json (SwaggerModule's default, which other tools fetch). */
export const DOCS_PATH = 'docs';

const PUBLIC_EXTENSION = 'x-public-route';
const ERROR_SCHEMA = 'Error';

/** A zod schema as OpenAPI 3.0 JSON Schema: its input side for what clients send, its output side for answers. */
export const openApiSchema = (schema: z.ZodType, io: 'input' | 'output' = 'input'): SchemaObject => {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' });
  return json as SchemaObject;
};

/** The request body, derived from the zod schema the handler validates it with. */
export const ApiZodBody = (schema: z.ZodType, description?: string) =>
  ApiBody({ schema: openApiSchema(schema), required: !schema.safeParse(undefined).success, ...(description === undefined ? {} : { description }) });

/** One query parameter per field of the handler's (strict) zod query schema. */
export const ApiZodQuery = (schema: z.ZodType) => {
  const json = openApiSchema(schema);
  const required = new Set(json.required ?? []);
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, property]) =>
      ApiQuery({ name, required: required.has(name), schema: property as SchemaObject }),
    ),
  );
};

/**
 * The success answer and the API's error answers a route can give, each error status with
 * the codes it may carry in `{ error, message, ...details }`.
 */
export const ApiAnswers = (
  success: { readonly status: number; readonly description: string; readonly contentType?: string; readonly schema?: z.ZodType },
  ...codes: ApiErrorCode[]
) => {
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = new ApiError(code, '').status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(
    ApiResponse({
      status: success.status,
      description: success.description,
      ...(success.contentType === undefined ? {} : { content: { [success.contentType]: { schema: { type: 'string' } } } }),
      ...(success.schema === undefined ? {} : { schema: openApiSchema(success.schema, 'output') }),
    }),
    ...[...byStatus].map(([status, statusCodes]) =>
      ApiResponse({
        status,
        description: statusCodes.map((code) => `\`${code}\``).join(' or '),
        schema: { allOf: [{ $ref: `#/components/schemas/${ERROR_SCHEMA}` }, { properties: { error: { type: 'string', enum: statusCodes } } }] },
      }),
    ),
  );
};

/** A write that takes `Idempotency-Key`: a repeat answers the first response again, with `Idempotent-Replayed: true`. */
export const ApiIdempotent = () =>
  applyDecorators(
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: '1-255 printable ASCII characters; the same key and body within the retention window replays the first answer',
      schema: { type: 'string', pattern: '^[\\x20-\\x7E]{1,255}$' },
    }),
  );

/** A route that needs no bearer token (its security requirement is emptied in the document). */
export const ApiPublic = () => ApiExtension(PUBLIC_EXTENSION, true);

const errorSchema: SchemaObject = {
  type: 'object',
  description: 'Every error answer: a code, a human message, and details that depend on the code',
  required: ['error', 'message'],
  properties: {
    error: {
      type: 'string',
      enum: [...CONTRACT_ERROR_CODES],
    },
    message: { type: 'string' },
    fields: {
      type: 'array',
      description: 'validation_failed: each bad field',
      items: { type: 'object', properties: { field: { type: 'string' }, problem: { type: 'string' } } },
    },
    required: { type: 'string', description: 'insufficient_credits: credits the request needs ("12.345")' },
    available: { type: 'string', description: 'insufficient_credits: credits available ("12.345")' },
    retryable: { type: 'boolean', description: 'unavailable: safe to retry' },
  },
  additionalProperties: true,
};

/** Builds the document from the controllers and serves it with its UI (public: not a Nest route, so no guard runs). */
export const setUpOpenApi = (app: INestApplication): OpenAPIObject => {
  const config = new DocumentBuilder()
    .setTitle('Credit ledger')
    .setDescription(
      'Event-sourced ledger of prepaid credits. Credit amounts are decimal strings with exactly 3 decimals; ' +
        'every successful command answers with `position`, and every GET accepts `minPosition` (read-your-writes).',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256, RS256 or ES256 JWT; `sub` is the account, `role` the role' }, 'bearer')
    .addSecurityRequirements('bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components = { ...document.components, schemas: { ...document.components?.schemas, [ERROR_SCHEMA]: errorSchema } };
  for (const operations of Object.values(document.paths)) {
    for (const operation of Object.values(operations) as Array<Record<string, unknown>>) {
      if (typeof operation !== 'object' || operation === null || operation[PUBLIC_EXTENSION] !== true) continue;
      delete operation[PUBLIC_EXTENSION];
      operation['security'] = [];
    }
  }
  // UI at /docs (its files through @fastify/static), JSON at /docs-json, YAML at /docs-yaml.
  SwaggerModule.setup(DOCS_PATH, app, document);
  return document;
};

/** What any route with a bearer token may answer besides its own refusals. */
export const READ_ERRORS: readonly ApiErrorCode[] = ['validation_failed', 'unauthenticated', 'forbidden', 'rate_limited', 'unavailable'];
/** What any write may answer besides its own refusals. */
export const WRITE_ERRORS: readonly ApiErrorCode[] = [...READ_ERRORS, 'payload_too_large', 'idempotency_key_reused'];

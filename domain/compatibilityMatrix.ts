// Which configuration keys each Tyk Gateway / Dashboard version removed or renamed. Checked before every upgrade
// (domain/compatibility.ts): a removed key in use blocks the upgrade, a renamed one is rewritten during it.
//
// ILLUSTRATIVE DATA: the entries below show the shape and are not taken from Tyk's release notes. The release team
// maintains this table: add a line when a release removes or renames a key.
//
// One line per key on purpose, so that a single grep answers "what breaks?":
//   grep -n "'gateway', version: '5.8" domain/compatibilityMatrix.ts     everything Gateway 5.8.x changed
//   grep -n use_db_app_configs domain/compatibilityMatrix.ts               when a key went, and what replaces it
//
// Keys are dotted paths into the component's configuration (`slave_options.use_rpc` is `use_rpc` inside
// `slave_options`). `version` is the first version without the old key. Data-plane gateways follow the `gateway` rows.
import type { ConfigValue } from './model';

export type ConfigComponent = 'gateway' | 'dashboard';

export type MatrixEntry =
  | {
      component: ConfigComponent;
      version: string;
      change: 'removed';
      key: string;
      /** Read by customers and SREs: what to do, as an instruction that completes "what to do: …" (no semicolons). */
      advice: string;
    }
  | {
      component: ConfigComponent;
      version: string;
      change: 'renamed';
      key: string;
      to: string;
      /** The new key must have this value, whatever the old key said (else the old value carries over). */
      value?: ConfigValue;
      /** Why, for people reading the table. */
      note?: string;
    };

// prettier-ignore
export const COMPATIBILITY_MATRIX: readonly MatrixEntry[] = [
  { component: 'gateway', version: '5.3.0', change: 'renamed', key: 'enable_jsvm_timeout', to: 'jsvm_timeout' },
  { component: 'gateway', version: '5.3.0', change: 'renamed', key: 'enable_redis_rolling_limiter', to: 'rate_limit.enable_redis_rolling_limiter' },
  { component: 'gateway', version: '5.3.0', change: 'removed', key: 'http_server_options.use_ssl_le', advice: 'upload your certificates to the Certificate Store and list them in http_server_options.ssl_certificates, since the Gateway no longer obtains certificates from Lets Encrypt' },
  { component: 'gateway', version: '5.8.0', change: 'removed', key: 'use_db_app_configs', advice: 'delete it and make sure db_app_conf_options.connection_string points at your Dashboard, since the Gateway now always loads APIs from the Dashboard' },
  { component: 'gateway', version: '5.8.0', change: 'removed', key: 'tracing.enabled', advice: 'set opentelemetry.enabled to true and configure opentelemetry.exporter instead, since OpenTracing is no longer supported' },
  { component: 'gateway', version: '5.8.0', change: 'renamed', key: 'analytics_config.enable_geo_ip', to: 'analytics_config.geo_ip.enabled' },
  { component: 'gateway', version: '5.8.0', change: 'renamed', key: 'hybrid.enabled', to: 'dten.hybrid.enable', value: true, note: 'must be true, or the Gateway falls back to its local API definitions' },
  { component: 'dashboard', version: '5.3.0', change: 'renamed', key: 'sso_enable_user_lookup', to: 'sso.enable_user_lookup' },
  { component: 'dashboard', version: '5.8.0', change: 'removed', key: 'use_sharded_analytics', advice: 'delete it and set enable_aggregate_lookups to true to keep aggregate charts, since analytics are now always stored per organisation' },
];

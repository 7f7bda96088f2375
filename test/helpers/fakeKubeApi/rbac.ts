// RBAC as the fake kube-apiserver enforces it: the ServiceAccount, Roles and RoleBindings of the worker's manifest
// (deploy/kubernetes/rbac.yaml), with its placeholder namespace replaced by the test's.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ApiError } from './objects';

/** The namespace rbac.yaml names; the fake puts the test's namespace in its place. */
export const RBAC_PLACEHOLDER_NAMESPACE = 'nightshift-target';

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
}

export interface Grant {
  user: string;
  namespace: string;
  rules: PolicyRule[];
}

/** The ServiceAccount the manifest creates, and the rules its RoleBindings give, in `namespace`. */
export function loadRbac(file: string, namespace: string): { serviceAccount: string; grants: Grant[] } {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Record<string, unknown> | null);
  const ns = (value: unknown) =>
    value === RBAC_PLACEHOLDER_NAMESPACE || value === undefined ? namespace : String(value);
  type Meta = { name: string; namespace?: string };
  const roles = new Map<string, PolicyRule[]>();
  let serviceAccount: string | undefined;
  for (const doc of docs) {
    const meta = doc?.metadata as Meta | undefined;
    if (doc?.kind === 'ServiceAccount' && meta)
      serviceAccount ??= `system:serviceaccount:${ns(meta.namespace)}:${meta.name}`;
    if (doc?.kind === 'Role' && meta)
      roles.set(`${ns(meta.namespace)}/${meta.name}`, (doc.rules as PolicyRule[]) ?? []);
  }
  const grants: Grant[] = [];
  for (const doc of docs) {
    if (doc?.kind !== 'RoleBinding') continue;
    const meta = doc.metadata as Meta;
    const roleRef = doc.roleRef as { kind: string; name: string };
    const rules = roleRef.kind === 'Role' ? roles.get(`${ns(meta.namespace)}/${roleRef.name}`) : undefined;
    if (!rules)
      throw new Error(`${file}: RoleBinding ${meta.name} refers to ${roleRef.kind} ${roleRef.name}, not in the file`);
    for (const s of (doc.subjects as { kind: string; name: string; namespace?: string }[]) ?? []) {
      const user =
        s.kind === 'ServiceAccount' ? `system:serviceaccount:${ns(s.namespace ?? meta.namespace)}:${s.name}` : s.name;
      grants.push({ user, namespace: ns(meta.namespace), rules });
    }
  }
  if (!serviceAccount) throw new Error(`${file}: no ServiceAccount`);
  return { serviceAccount, grants };
}

function allows(rule: PolicyRule, group: string, resource: string, verb: string, name: string | undefined): boolean {
  const has = (list: string[] | undefined, value: string) => !!list && (list.includes('*') || list.includes(value));
  if (!has(rule.apiGroups, group) || !has(rule.resources, resource) || !has(rule.verbs, verb)) return false;
  return !rule.resourceNames?.length || (name !== undefined && rule.resourceNames.includes(name));
}

/** Who may do what: `admin` everything, any other user what its grants allow. */
export class Rbac {
  constructor(
    private readonly grants: Grant[],
    private readonly admin: string,
  ) {}

  /** Throws the apiserver's 403 unless `user` may do `verb` on the resource. */
  authorize(
    user: string,
    verb: string,
    group: string,
    resource: string,
    namespace: string | undefined,
    name: string | undefined,
  ): void {
    if (user === this.admin) return;
    const granted = this.grants.some(
      (g) =>
        g.user === user && g.namespace === namespace && g.rules.some((r) => allows(r, group, resource, verb, name)),
    );
    if (granted) return;
    const qualified = group ? `${resource}.${group}` : resource;
    const subject = name === undefined ? qualified : `${qualified} "${name}"`;
    const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
    throw new ApiError(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" ${scope}`,
      { ...(name !== undefined ? { name } : {}), group, kind: resource },
    );
  }
}

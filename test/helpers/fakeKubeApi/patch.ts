// The three patch formats the fake kube-apiserver accepts on PATCH: JSON merge patch, strategic merge patch (the
// parts clients send for Deployments and ConfigMaps) and JSON Patch.
import { isDeepStrictEqual } from 'node:util';
import { clone, isObject, type Json, type JsonObject } from './objects';

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The patch merge keys of the lists strategic merge patch merges by key (the rest are replaced whole). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  conditions: 'type',
  hostAliases: 'ip',
};

/** Strategic merge patch, for the parts of it kubectl and client libraries send for Deployments and ConfigMaps. */
export function strategicMergePatch(target: Json | undefined, patch: Json, field?: string): Json {
  if (Array.isArray(patch)) {
    const key = field ? MERGE_KEYS[field] : undefined;
    if (!key || !Array.isArray(target)) return clone(patch.filter((p) => !(isObject(p) && p.$patch === 'delete')));
    const result = [...target];
    for (const item of patch) {
      if (!isObject(item) || item[key] === undefined) {
        result.push(clone(item));
        continue;
      }
      const at = result.findIndex((existing) => isObject(existing) && isDeepStrictEqual(existing[key], item[key]));
      if (item.$patch === 'delete') {
        if (at >= 0) result.splice(at, 1);
      } else if (at >= 0) {
        result[at] = strategicMergePatch(result[at], item);
      } else {
        result.push(strategicMergePatch(undefined, item));
      }
    }
    return result;
  }
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (name.startsWith('$')) continue; // $setElementOrder/…, $retainKeys, $patch: directives that order or prune
    if (value === null) delete result[name];
    else result[name] = strategicMergePatch(result[name], value, name);
  }
  return result;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`path ${JSON.stringify(path)} is not a JSON pointer`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function resolveParent(doc: Json, tokens: string[], path: string): { parent: Json; last: string } {
  let at: Json = doc;
  for (const token of tokens.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(at) ? at[Number(token)] : isObject(at) ? at[token] : undefined;
    if (next === undefined) throw new Error(`path ${path}: ${token} does not exist`);
    at = next;
  }
  return { parent: at, last: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  const { parent, last } = resolveParent(doc, tokens, path);
  const value = Array.isArray(parent) ? parent[Number(last)] : isObject(parent) ? parent[last] : undefined;
  if (value === undefined) throw new Error(`path ${path} does not exist`);
  return value;
}

/** RFC 6902 JSON Patch. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new Error('a JSON patch must be an array of operations');
  let result = clone(doc);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new Error(`not a JSON patch operation: ${JSON.stringify(op)}`);
    }
    const path = op.path;
    const value = op.op === 'move' || op.op === 'copy' ? getAt(result, String(op.from)) : op.value;
    if (op.op === 'test') {
      if (!isDeepStrictEqual(getAt(result, path), value)) throw new Error(`test failed at ${path}`);
      continue;
    }
    if (op.op === 'move') result = applyOp(result, 'remove', String(op.from), undefined);
    const kind = op.op === 'move' || op.op === 'copy' ? 'add' : op.op;
    if (!['add', 'remove', 'replace'].includes(kind)) throw new Error(`unknown JSON patch operation ${op.op}`);
    if (kind !== 'remove' && value === undefined) throw new Error(`${op.op} at ${path} has no value`);
    result = applyOp(
      result,
      kind as 'add' | 'remove' | 'replace',
      path,
      value === undefined ? undefined : clone(value),
    );
  }
  return result;
}

function applyOp(doc: Json, op: 'add' | 'remove' | 'replace', path: string, value: Json | undefined): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) {
    if (op === 'remove') throw new Error('cannot remove the whole document');
    return value!;
  }
  const { parent, last } = resolveParent(doc, tokens, path);
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`path ${path}: bad index`);
    if (op !== 'add' && index >= parent.length) throw new Error(`path ${path} does not exist`);
    if (op === 'add') parent.splice(index, 0, value!);
    else if (op === 'remove') parent.splice(index, 1);
    else parent[index] = value!;
  } else if (isObject(parent)) {
    if (op !== 'add' && !Object.hasOwn(parent, last)) throw new Error(`path ${path} does not exist`);
    if (op === 'remove') delete parent[last];
    else parent[last] = value!;
  } else {
    throw new Error(`path ${path}: parent is not an object or array`);
  }
  return doc;
}

// `npm run build`, second step: bundles the workflow code once, so the production worker loads dist/workflow-bundle.js
// instead of running webpack at every start-up (worker/workflowBundle.ts picks it up).
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_FILE, workflowBundleOptions } from '../worker/workflowBundle';

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist'));
  const started = Date.now();
  const { code } = await bundleWorkflowCode(
    workflowBundleOptions(require.resolve('../workflows'), new DefaultLogger('WARN')),
  );
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, WORKFLOW_BUNDLE_FILE);
  fs.writeFileSync(file, code);
  const kb = Math.round(Buffer.byteLength(code) / 1024);
  console.log(`workflow bundle: ${path.relative(process.cwd(), file)} (${kb} KiB, ${Date.now() - started} ms)`);
}

main().catch((err: unknown) => {
  console.error(`workflow bundle failed: ${(err as Error).message}`);
  process.exit(1);
});

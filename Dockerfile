# syntax=docker/dockerfile:1
# The nightshift image: the worker by default (`CMD ["worker"]`), any other subcommand by argument
# (`docker run … nightshift webhook`). Configuration and secrets come from the environment at run time; none is
# baked in. docs/deploy.md ("Build and image"); test/integration/build.test.ts runs the runtime stage's steps.

# Build stage: dev dependencies, type-checked compile to dist/ and the prebuilt workflow bundle.
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY domain/ domain/
COPY workflows/ workflows/
COPY activities/ activities/
COPY integrations/ integrations/
COPY config/ config/
COPY client/ client/
COPY worker/ worker/
COPY cli/ cli/
COPY scripts/buildWorkflowBundle.ts scripts/
RUN npm run build

# Runtime stage: production dependencies and dist/ only. glibc (Debian slim), not Alpine: the Temporal SDK's native
# core ships for linux-gnu only.
FROM node:20.20.2-bookworm-slim
# MALLOC_ARENA_MAX: glibc gives each busy thread (the SDK's Rust core, workflow threads, libuv) its own malloc arena;
# two arenas kept a worker with 1,000 parked control planes at 536 MiB instead of 611 (docs/scale.md).
# --max-old-space-size: each V8 isolate's heap cap (the main thread and each workflow thread). Without it V8 sizes the
# heap from the machine and collects late: 667 MiB with 10,000 parked instead of 493 (docs/scale.md). 384 holds the
# default workflow cache (300); a larger NIGHTSHIFT_WORKFLOW_CACHE_SIZE needs a larger cap, and the worker says so.
ENV NODE_ENV=production \
    NODE_OPTIONS="--enable-source-maps --max-old-space-size=384" \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist/ dist/
# The demo inventory, the default NIGHTSHIFT_INVENTORY; a deployment mounts its own.
COPY examples/ examples/
# The default data files (.data/: outbox, alert log, simulated fleet state) are the only writable path.
RUN mkdir .data && chown 1000:1000 .data
# The node image's unprivileged `node` user, by number so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node", "dist/cli/nightshift.js"]
CMD ["worker"]

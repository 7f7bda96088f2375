// The bare baseline's only activity: does nothing, so a bare workflow measures Temporal and the SDK alone.
export async function noop(): Promise<void> {}

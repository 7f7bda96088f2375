// Local ports for tests and dev scripts that must name a port up front (a server that cannot report back the port 0
// gave it). A port is free when returned; nothing holds it, so use it at once.
import net from 'node:net';

/** One port on 127.0.0.1 that nobody listened on a moment ago. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** `count` distinct ports on 127.0.0.1: all are held until every one is found, then released together. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** cluster-key-slot ships no types: the Redis Cluster slot (0-16383) of a key, its hash tag honoured, as ioredis computes it. */
declare module 'cluster-key-slot' {
  function generate(key: string | Buffer): number;
  export default generate;
}

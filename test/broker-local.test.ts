import { LocalBroker } from '../src/server/broker/local-broker.js';
import { brokerContract } from './contract/broker.contract.js';

brokerContract('local', async () => {
  const broker = new LocalBroker();
  await broker.init();
  return { brokers: [broker], cleanup: () => broker.close() };
});

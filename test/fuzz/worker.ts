/**
 * A fuzzer client in a worker thread: `workerData` is its `ClientInput`; each message is an endpoint to
 * fuzz (`EndpointTarget`), answered with its `ClientResult`; `null` ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createClient, type ClientInput, type EndpointTarget } from './client.js';

const client = createClient(workerData as ClientInput);
parentPort!.on('message', (endpoint: EndpointTarget | null) => {
  if (endpoint === null) {
    client.close();
    parentPort!.close();
    return;
  }
  void client.run(endpoint).then((result) => parentPort!.postMessage(result));
});

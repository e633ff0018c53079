// Drives a blob container with the official Azure Storage client, as an operator
// would: `node blob.mjs create`, `put BLOB FILE`, `delete BLOB`, `list` (one name a line).
// The connection string and container come from AZURE_STORAGE_CONNECTION_STRING
// and BLOB_CONTAINER.
import { readFile } from "node:fs/promises";
import { BlobServiceClient } from "@azure/storage-blob";

const [command, blob, file] = process.argv.slice(2);
const service = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING);
const container = service.getContainerClient(process.env.BLOB_CONTAINER);

switch (command) {
  case "create":
    await container.createIfNotExists();
    break;
  case "put": {
    const bytes = await readFile(file);
    await container.getBlockBlobClient(blob).uploadData(bytes);
    break;
  }
  case "delete":
    await container.deleteBlob(blob);
    break;
  case "list":
    for await (const item of container.listBlobsFlat()) {
      console.log(item.name);
    }
    break;
  default:
    console.error(`unknown command ${command}: create | put BLOB FILE | delete BLOB | list`);
    process.exit(2);
}

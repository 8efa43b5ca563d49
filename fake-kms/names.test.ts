import { status } from '@grpc/grpc-js';
import { expect, test } from 'vitest';
import { GRPC_ERROR_CODES } from './names.js';

test("the gRPC code names the CLI offers are exactly grpc-js's failure codes", () => {
  const codes = Object.keys(status).filter((k) => Number.isNaN(Number(k)) && k !== 'OK');
  expect([...GRPC_ERROR_CODES].sort()).toEqual(codes.sort());
});

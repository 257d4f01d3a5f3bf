// The slice of `node:crypto` (workerd's nodejs_compat) that tests use to check our certificates
// with an independent X.509 parser; the project has no @types/node.
declare module "node:crypto" {
  export interface KeyObject {
    readonly type: "public" | "private" | "secret";
    export(options: { type: "spki"; format: "der" }): Uint8Array;
  }
  export class X509Certificate {
    constructor(pem: string | Uint8Array);
    readonly subject: string;
    readonly issuer: string;
    readonly validFrom: string;
    readonly validTo: string;
    readonly serialNumber: string;
    readonly publicKey: KeyObject;
    readonly raw: Uint8Array;
    verify(publicKey: KeyObject): boolean;
  }
}

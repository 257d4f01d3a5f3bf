// A self-signed X.509 v3 certificate (RFC 5280) around an Access signing key, for the `cert` fields
// of `/cdn-cgi/access/certs`: Cloudflare publishes each signing key both as a JWK and as a PEM
// certificate, and some origin libraries only accept the certificate. jose cannot make
// certificates, so the DER is assembled here (./der.ts) and signed with WebCrypto.
import { bitString, boolean, explicit, nullValue, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from "./der";

const OID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11";
const OID_COMMON_NAME = "2.5.4.3";
const OID_KEY_USAGE = "2.5.29.15";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";

/** What the certificate says: its subject and issuer CN, and the validity window. */
export interface CertificateFields {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Makes a PEM certificate for an RS256 key pair, self-signed with sha256WithRSAEncryption.
 * `privateKey` must be an RSASSA-PKCS1-v1_5/SHA-256 signing key (what jose makes for RS256).
 */
export async function selfSignedCertificatePem(publicKey: CryptoKey, privateKey: CryptoKey, fields: CertificateFields): Promise<string> {
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", publicKey)) as ArrayBuffer);
  // RFC 5280 §4.1.2.4: for sha256WithRSAEncryption the parameters are an explicit NULL (RFC 4055 §5).
  const algorithm = sequence(oid(OID_SHA256_WITH_RSA), nullValue());
  const name = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(fields.commonName))));
  // §4.1.2.2: a positive serial of at most 20 octets, unique per issuer; 16 random octets with
  // the top bit cleared so that DER needs no padding octet.
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const extensions = sequence(
    // §4.2.1.9: not a CA.
    sequence(oid(OID_BASIC_CONSTRAINTS), boolean(true), octetString(sequence())),
    // §4.2.1.3: digitalSignature only (bit 0; 7 unused bits), marked critical.
    sequence(oid(OID_KEY_USAGE), boolean(true), octetString(bitString(Uint8Array.of(0x80), 7))),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3 (§4.1.2.1), needed for extensions
    unsignedInteger(serial),
    algorithm,
    name, // issuer
    sequence(time(fields.notBefore), time(fields.notAfter)),
    name, // subject: self-signed
    spki,
    explicit(3, extensions),
  );
  const signature = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", privateKey, tbs));
  return toPem(sequence(tbs, algorithm, bitString(signature)));
}

/** RFC 7468 §2 textual encoding: base64 in 64-character lines between the CERTIFICATE labels. */
function toPem(der: Uint8Array): string {
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  const lines = btoa(bin).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

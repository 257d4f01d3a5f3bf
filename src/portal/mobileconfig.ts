// An Apple configuration profile with one DNS Settings payload (com.apple.dnsSettings.managed,
// iOS 14+ / macOS 11+): DNS over HTTPS to the device's own DoH URL. Apple's "DNSSettings" keys:
// DNSProtocol = HTTPS, ServerURL. Every value is XML-escaped.

import { escapeHtml as xml } from "../http/html";

/** The `.mobileconfig` XML for one device. */
export function appleDnsProfile(input: { dohUrl: string; deviceId: string; organization: string }): string {
  const payloadUuid = crypto.randomUUID().toUpperCase();
  const profileUuid = crypto.randomUUID().toUpperCase();
  const id = `edge.zt.gateway.${input.deviceId}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>DNSSettings</key>
      <dict>
        <key>DNSProtocol</key>
        <string>HTTPS</string>
        <key>ServerURL</key>
        <string>${xml(input.dohUrl)}</string>
      </dict>
      <key>PayloadDisplayName</key>
      <string>Gateway DNS (${xml(input.organization)})</string>
      <key>PayloadIdentifier</key>
      <string>${xml(id)}.dns</string>
      <key>PayloadType</key>
      <string>com.apple.dnsSettings.managed</string>
      <key>PayloadUUID</key>
      <string>${payloadUuid}</string>
      <key>PayloadVersion</key>
      <integer>1</integer>
    </dict>
  </array>
  <key>PayloadDisplayName</key>
  <string>Gateway DNS (${xml(input.organization)})</string>
  <key>PayloadIdentifier</key>
  <string>${xml(id)}</string>
  <key>PayloadRemovalDisallowed</key>
  <false/>
  <key>PayloadType</key>
  <string>Configuration</string>
  <key>PayloadUUID</key>
  <string>${profileUuid}</string>
  <key>PayloadVersion</key>
  <integer>1</integer>
</dict>
</plist>
`;
}

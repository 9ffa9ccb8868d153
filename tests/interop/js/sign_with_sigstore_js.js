// Signs a file with the sigstore-js library (@sigstore/sign), driven by a signing config, as an
// application that embeds sigstore-js does: Fulcio, the Rekor log and the TSA all come from
// the config (bundleBuilderFromSigningConfig picks the log with the highest API version it
// speaks, 2, when the config lists a Rekor v2 log first).
//
//   SIGSTORE_ID_TOKEN=JWT node sign_with_sigstore_js.js SIGNING_CONFIG.json FILE BUNDLE_OUT.json
//
// Run with NODE_PATH pointing at the node_modules that hold @sigstore/sign (.ci/system-deps).
'use strict';
const fs = require('node:fs');
const { bundleBuilderFromSigningConfig } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');
const { SigningConfig } = require('@sigstore/protobuf-specs');

async function main() {
  const [configPath, artifactPath, outPath] = process.argv.slice(2);
  const token = process.env.SIGSTORE_ID_TOKEN;
  if (!configPath || !artifactPath || !outPath || !token) {
    throw new Error('usage: SIGSTORE_ID_TOKEN=JWT node sign_with_sigstore_js.js CONFIG FILE OUT');
  }
  const signingConfig = SigningConfig.fromJSON(JSON.parse(fs.readFileSync(configPath, 'utf8')));
  const builder = bundleBuilderFromSigningConfig({
    signingConfig,
    identityProvider: { getToken: async () => token },
    bundleType: 'messageSignature',
  });
  const bundle = await builder.create({ data: fs.readFileSync(artifactPath) });
  fs.writeFileSync(outPath, JSON.stringify(bundleToJSON(bundle)));
  const entry = bundle.verificationMaterial.tlogEntries[0];
  console.log(`logged ${entry.kindVersion.kind} ${entry.kindVersion.version} at index ${entry.logIndex}`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});

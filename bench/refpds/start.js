// Runs the reference PDS (@atproto/pds) the way its users run it: the
// configuration comes from its documented PDS_* environment variables
// (readEnv, envToCfg, envToSecrets), then PDS.create and start. The one
// difference: it listens on 127.0.0.1 only (PDS.start listens on every
// interface), since the benchmarks never leave loopback.
//
//   PDS_HOSTNAME=... PDS_PORT=... node bench/refpds/start.js
'use strict'
const pkg = require('@atproto/pds/package.json')
const { PDS, envToCfg, envToSecrets, readEnv, httpLogger } = require('@atproto/pds')

async function main() {
  const env = readEnv()
  env.version ||= pkg.version
  const cfg = envToCfg(env)
  const secrets = envToSecrets(env)
  const pds = await PDS.create(cfg, secrets)
  const listen = pds.app.listen.bind(pds.app)
  pds.app.listen = (port, ...rest) => listen(port, '127.0.0.1', ...rest)
  await pds.start()
  httpLogger.info('pds has started')
  console.error(`reference pds ${pkg.version} listening on http://127.0.0.1:${cfg.service.port}`)
  const stop = async () => {
    setTimeout(() => process.exit(1), 10000).unref() // if destroy hangs
    await pds.destroy()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

// The graphile-worker side of bench/jobs.sh (run with NODE_PATH pointing at the
// graphile-worker installed in target/bench-tools/graphile-worker/node_modules):
//   node graphile.js migrate URL                  installs its schema
//   node graphile.js worker URL CONCURRENCY OUT   runs the no-op task `noop`; on SIGTERM stops
//                                                 and writes "created_ms started_ms" per job to OUT
//   node graphile.js add URL N CONNS              adds N `noop` jobs (WorkerUtils.addJob) over
//                                                 CONNS connections at full speed
//   node graphile.js rate URL RATE SECS           adds RATE jobs a second for SECS seconds
// Its log keeps warnings and errors only (apiphant runs with RUST_LOG=warn).
"use strict";
const fs = require("fs");
const { run, runMigrations, makeWorkerUtils, Logger } = require("graphile-worker");
const { Pool } = require("pg");

const quiet = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`${level}: ${message}`);
});
const [mode, url, ...args] = process.argv.slice(2);

async function main() {
  if (mode === "migrate") {
    await runMigrations({ connectionString: url, logger: quiet });
  } else if (mode === "worker") {
    const [concurrency, out] = args;
    const starts = [];
    const runner = await run({
      connectionString: url,
      concurrency: Number(concurrency),
      noHandleSignals: true,
      logger: quiet,
      taskList: {
        noop: async (_payload, helpers) => {
          starts.push(`${helpers.job.created_at.getTime()} ${Date.now()}`);
        },
      },
    });
    process.on("SIGTERM", async () => {
      await runner.stop();
      fs.writeFileSync(out, starts.join("\n") + (starts.length ? "\n" : ""));
      process.exit(0);
    });
  } else if (mode === "add") {
    const [count, conns] = args.map(Number);
    const pgPool = new Pool({ connectionString: url, max: conns });
    const utils = await makeWorkerUtils({ pgPool, logger: quiet });
    let next = 0;
    const client = async () => {
      while (next < count) {
        next += 1;
        await utils.addJob("noop", {});
      }
    };
    await Promise.all(Array.from({ length: conns }, client));
    await utils.release();
    await pgPool.end();
  } else if (mode === "rate") {
    const [rate, secs] = args.map(Number);
    const pgPool = new Pool({ connectionString: url, max: 16 });
    const utils = await makeWorkerUtils({ pgPool, logger: quiet });
    const total = Math.round(rate * secs);
    const begin = Date.now();
    let sent = 0;
    const pending = [];
    while (sent < total) {
      const due = Math.min(total, Math.floor(((Date.now() - begin) / 1000) * rate));
      for (; sent < due; sent++) pending.push(utils.addJob("noop", {}));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(pending);
    await utils.release();
    await pgPool.end();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

// Runs each SQL statement given on the command line in one in-memory
// DuckDB and prints each one's rows as a JSON array of arrays, one line per
// statement. Values DuckDB gives as BigInt or as objects are printed as
// strings. Used by internal/duckdbtest.
const { DuckDBInstance } = require('@duckdb/node-api');

(async () => {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  for (const sql of process.argv.slice(2)) {
    const reader = await conn.runAndReadAll(sql);
    const rows = reader.getRows().map((row) => row.map((v) => {
      if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
      if (typeof v === 'bigint') return v.toString();
      return String(v);
    }));
    process.stdout.write(JSON.stringify(rows) + '\n');
  }
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });

/**
 * Applies numbered, append-only SQL migrations to a Durable Object's SQLite
 * storage, in one transaction: entry i is schema version i + 1. Objects already
 * at a version skip it, so a shipped entry is never edited, only followed.
 */
export function migrate(storage: DurableObjectStorage, migrations: readonly string[]): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)");
    const row = sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations").one();
    for (let version = (row.v ?? 0) + 1; version <= migrations.length; version++) {
      sql.exec(migrations[version - 1] as string);
      sql.exec("INSERT INTO schema_migrations (version) VALUES (?)", version);
    }
  });
}

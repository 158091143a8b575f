/**
 * The databases the integration tests run against: the embedded SQLite always, and MySQL/MariaDB at
 * TEST_DATABASE_URL (default: the local server, database tenantkv_test). Under CI=true a missing MySQL fails
 * the run; elsewhere the suite says loudly that it ran on SQLite only.
 */
export const BASE_MYSQL_URL = process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/tenantkv_test';
/** Each run gets its own database (global setup names it), so that runs side by side do not collide. */
export const TEST_MYSQL_URL = process.env.TENANTKV_TEST_MYSQL_URL ?? BASE_MYSQL_URL;
export const MYSQL_STATUS_ENV = 'TENANTKV_TEST_MYSQL';

export type TargetName = 'mysql' | 'sqlite';

export function targets(): TargetName[] {
  return process.env[MYSQL_STATUS_ENV] === 'up' ? ['mysql', 'sqlite'] : ['sqlite'];
}

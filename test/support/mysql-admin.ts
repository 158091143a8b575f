import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../src/platform/db/dialect';

/**
 * A plain connection to the server of a mysql:// URL: with no database selected, to create and drop databases;
 * or in the URL's database, for what a test checks or does behind the service's back.
 */
export function serverConnection(url: string, inDatabase = false): Promise<mysql.Connection> {
  const { host, port, user, password, database } = parseMysqlUrl(url);
  return mysql.createConnection({
    host,
    port,
    user,
    password,
    connectTimeout: 5000,
    ...(inDatabase ? { database } : {}),
  });
}

export function databaseOf(url: string): string {
  return parseMysqlUrl(url).database;
}

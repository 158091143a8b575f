import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configPath, readConfig, writeConfig } from '../../../packages/cli/src/config-file';

describe('the config file of `tenantkv login`', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const login = { user_name: 'alice', token: 'secret-token', expires_at: '2030-01-01T00:00:00Z' };

  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/a' })).toBe('/x/conf/tenantkv/config.json');
    expect(configPath({ HOME: '/home/a' })).toBe('/home/a/.config/tenantkv/config.json');
    expect(configPath({ XDG_CONFIG_HOME: '', HOME: '/home/a' })).toBe('/home/a/.config/tenantkv/config.json');
  });

  it('is written with mode 0600 in a 0700 folder whatever the umask, and replaces a file others could read', () => {
    const file = path.join(dir, 'tenantkv', 'config.json');
    const umask = process.umask(0);
    try {
      writeConfig({ url: 'http://a', logins: { 'http://a': login } }, file);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
      fs.chmodSync(file, 0o644);
      writeConfig({ url: 'http://b', logins: {} }, file);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(umask);
    }
    expect(fs.readdirSync(path.dirname(file))).toEqual(['config.json']);
    expect(readConfig(file)).toEqual({ url: 'http://b', logins: {} });
  });

  it('reads back what was written; an absent file is an empty config', () => {
    const file = path.join(dir, 'tenantkv', 'config.json');
    expect(readConfig(file)).toEqual({ url: undefined, logins: {} });
    writeConfig({ url: 'http://a', logins: { 'http://a': login } }, file);
    expect(readConfig(file)).toEqual({ url: 'http://a', logins: { 'http://a': login } });
  });

  it('warns on stderr when others may read the tokens in it', () => {
    const file = path.join(dir, 'tenantkv', 'config.json');
    writeConfig({ logins: {} }, file);
    fs.chmodSync(file, 0o644);
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      readConfig(file);
      expect(write).toHaveBeenCalledWith(expect.stringMatching(/is open to other users \(mode 644\); run: chmod 600 /));
    } finally {
      write.mockRestore();
    }
  });
});

/**
 * Prints the app's RSA private key as PEM on stdout, for storing in Key Vault as `superoffice-rsa-private-key`.
 *
 *   npx tsx scripts/convert-rsa-key.ts <key.xml|key.pem>      # or '-' / no argument to read stdin
 *
 * Accepts SuperOffice's .NET `<RSAKeyValue>` XML (converted to PKCS#8) or a PEM private key (validated, passed
 * through). Exit codes: 0 ok, 1 bad key, 2 usage or unreadable input. Errors never print key material.
 */
import { readFileSync } from 'node:fs';
import { RsaKeyFormatError, toRsaPrivateKeyPem } from '../shared/superoffice/rsaXmlKey.js';

function readInput(argument: string | undefined): string {
  // fd 0 is stdin; reading it synchronously works for both pipes and redirected files.
  return readFileSync(argument === undefined || argument === '-' ? 0 : argument, 'utf8');
}

function main(argv: readonly string[]): number {
  if (argv.length > 1 || argv[0] === '--help' || argv[0] === '-h') {
    process.stderr.write('usage: convert-rsa-key <key.xml|key.pem|->  (writes a PEM private key to stdout)\n');
    return 2;
  }
  let input: string;
  try {
    input = readInput(argv[0]);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    process.stderr.write(`convert-rsa-key: cannot read ${argv[0] ?? 'stdin'} (${code})\n`);
    return 2;
  }
  try {
    process.stdout.write(toRsaPrivateKeyPem(input));
    return 0;
  } catch (error) {
    if (error instanceof RsaKeyFormatError) {
      process.stderr.write(`convert-rsa-key: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

process.exitCode = main(process.argv.slice(2));

// Bundles console/ into one script beside its page and stylesheet: no CDN, nothing fetched at run time.
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SOURCE = fileURLToPath(new URL('../console/', import.meta.url));
export const CONSOLE_OUT = fileURLToPath(new URL('../dist/console/', import.meta.url));

/** Writes index.html, style.css and app.js into `outdir`. */
export async function buildConsole(outdir = CONSOLE_OUT): Promise<void> {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: [join(SOURCE, 'app.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'style.css']) await copyFile(join(SOURCE, file), join(outdir, file));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildConsole();
  console.log(`console built into ${CONSOLE_OUT}`);
}

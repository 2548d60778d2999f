import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'
import { writeFileSync } from 'node:fs'

// The build is embedded in the daemon (web/ui/ui.go): everything it needs must be in dist,
// nothing may come from a CDN. `npm run dev` proxies the API to a daemon on :8000.
export default defineConfig({
  plugins: [
    vue(),
    {
      // dist/.gitkeep is committed so that go:embed finds dist on a fresh clone (web/ui/ui.go);
      // emptyOutDir removes it, so it is written back after every build.
      name: 'keep-dist',
      closeBundle() {
        writeFileSync(new URL('./dist/.gitkeep', import.meta.url), '')
      },
    },
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The kiosk browser and the phones are current; one CSS file and a small JS graph load
    // fastest from the device.
    cssCodeSplit: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8000', ws: true },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
  },
})

// `npm run screenshots`: the README's pictures, taken from `cairn serve --demo` in Chromium at
// 1280×800 and written to docs/screenshots/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { browse, logIn, missing, serve } from "./harness.mjs";

const why = missing();
if (why) {
  console.error(`cannot run: ${why}`);
  process.exit(2);
}
const out = new URL("../../docs/screenshots/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const server = await serve({ args: ["--demo"] });
const b = await browse();
try {
  const { page } = b;
  await logIn(page, server.url);
  const shot = async (name) => {
    await page.waitForTimeout(800);
    await page.screenshot({ path: join(out, `${name}.png`) });
    console.log(`docs/screenshots/${name}.png`);
  };
  await shot("journeys");
  await page.goto(`${server.url}/flows/1`);
  await page.locator('.react-flow__node[data-id="read"]').click();
  await shot("editor");
  await page.goto(`${server.url}/contacts/demo-003`);
  await page.getByRole("heading", { name: "History" }).waitFor();
  await shot("contact");
  await page.goto(`${server.url}/segments/1`);
  await page.getByTestId("preview-count").waitFor();
  await shot("segment");
  await page.goto(`${server.url}/settings`);
  await page.locator("summary", { hasText: /^SMS/ }).click();
  await page.getByLabel("SMS: only send between").waitFor();
  await shot("settings");
  if (b.errors.length) console.error(b.errors.join("\n"));
} finally {
  await b.close();
  await server.stop();
}

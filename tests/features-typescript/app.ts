// What a TypeScript tool author uses besides what the weather tool does:
// input requests (elicitation), prompts with completions, and a tool that runs as a task. Built by `make build` for the
// polyglot tests, which ask the Python build (`tests/features-python`) the same.

import { complete, prompt, tool } from "../../guest/typescript/sdk/mcp-tool";

const NAME_FORM = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };

tool("greet", { description: "Asks the user's name, then greets them.", inputSchema: { type: "object", properties: {} } },
  (_args, ctx) => {
    const answer = ctx.elicit("name", "What is your name?", NAME_FORM) as { action?: string; content?: { name?: string } };
    if (answer.action !== "accept") return "No name, no greeting.";
    return `Hello, ${answer.content?.name}!`;
  });

tool("square", {
  description: "Squares `x`, as a task for clients that take one.",
  inputSchema: { type: "object", properties: { x: { type: "integer" } }, required: ["x"] },
  task: "optional",
}, ({ x }) => `${x} squared is ${Number(x) * Number(x)}`);

prompt("greeting", {
  description: "A greeting for someone.",
  arguments: [{ name: "name", required: true }, { name: "tone" }],
}, ({ name, tone }) => [["user", `Write a ${tone ?? "warm"} greeting for ${name}.`], ["assistant", `Dear ${name},`]]);

complete("greeting", "tone", (typed) => ["warm", "wary", "witty", "formal"].filter((t) => t.startsWith(typed)));

export { completion, prompts, resources, tools } from "../../guest/typescript/sdk/mcp-tool";

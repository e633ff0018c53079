declare module "*.md" {
  const text: string;
  export default text;
}
declare module "*.html" {
  const text: string;
  export default text;
}
declare module "wasi:cli/environment@0.2.12" {
  export function getEnvironment(): [string, string][];
}

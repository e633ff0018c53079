#!/usr/bin/env python3
"""Offline checks of the Azure Functions deployment (run by tests/deploy/check.sh).

What a machine without Azure can establish about `make deploy`:

1. the package (zip): layout, Unix modes (the executable bit), reproducibility;
2. host.json against the custom-handler contract of the Functions host;
3. the binary's portability: statically linked, or no glibc symbol newer than 2.17;
4. the Bicep: every file parses (pycep-parser) and declares what the host needs;
5. azure.yaml and the deploy/publish scripts (dry runs);
6. an emulation of the Functions host: unpack the zip, start the executable as host.json
   describes with FUNCTIONS_CUSTOMHANDLER_PORT and the Bicep's app settings, poll GET / every
   25 ms for at most 30 s, then run real MCP sessions through it, as the host's proxy would.

Ends with `deploy-checks: N passed, M failed`; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "build/mcp-host-functions.zip"
SERVICE = "mcp"
PUBLIC_HOST = "func-mcp-example.azurewebsites.net"  # stands in for site.properties.defaultHostName

ROLE = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "8311e382-0749-4cb8-b61a-304f252e45ec": "AcrPush",
}
# Settings Flex Consumption rejects or that would reintroduce account keys.
FORBIDDEN_SETTINGS = [
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "WEBSITE_TIME_ZONE", "TZ", "AzureWebJobsStorage",
]


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def section(self, title):
        print(f"\n== {title}")

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            short = detail and len(detail) <= 100 and "\n" not in detail
            print(f"  ok    {name}" + (f"  ({detail})" if short else ""))
        else:
            self.failed.append(name)
            print(f"  FAIL  {name}" + (f": {detail}" if detail else ""))
        return bool(ok)

    def info(self, text):
        print(f"  info  {text}")


C = Checks()


# ---------------------------------------------------------------------------- helpers


def unix_mode(zi: zipfile.ZipInfo) -> int | None:
    return (zi.external_attr >> 16) if zi.create_system == 3 else None


def is_component(data: bytes) -> bool:
    # \0asm, version 0x0d, layer 1 (component), not a core module (layer 0).
    return data[:4] == b"\0asm" and data[6:8] == b"\x01\x00"


def extract_like_unix(zip_path: Path, dest: Path):
    """Unpacks with exactly the modes the zip records (no fix-ups: the emulation must
    not hide a missing executable bit)."""
    with zipfile.ZipFile(zip_path) as z:
        for zi in z.infolist():
            target = dest / zi.filename
            mode = unix_mode(zi)
            if zi.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                os.chmod(target, (mode or 0o40755) & 0o7777)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(zi))
            os.chmod(target, (mode & 0o7777) if mode is not None else 0o644)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- 1. package


def check_package(zip_path: Path, work: Path):
    C.section(f"package {zip_path.relative_to(ROOT) if zip_path.is_relative_to(ROOT) else zip_path}")
    if not C.check("the package exists (make package)", zip_path.is_file()):
        return None
    C.info(f"size {zip_path.stat().st_size} bytes ({zip_path.stat().st_size / 2**20:.1f} MiB)")
    with zipfile.ZipFile(zip_path) as z:
        C.check("it is a valid zip (CRCs)", z.testzip() is None)
        infos = z.infolist()
        names = [zi.filename for zi in infos]
        files = {zi.filename: z.read(zi) for zi in infos if not zi.is_dir()}
    for zi in infos:
        C.info(f"{(unix_mode(zi) or 0):07o} {zi.file_size:>10}  {zi.filename}")

    required = ["components/", "components/weather.toml", "components/weather.wasm", "host.json", "mcp-host"]
    C.check("layout: host.json, mcp-host, components/weather.{wasm,toml}", all(n in names for n in required),
            f"entries {names}")
    allowed = re.compile(r"^(host\.json|mcp-host|components/|components/[A-Za-z0-9_-]+\.(wasm|toml)"
                         r"|precompiled/|precompiled/[0-9a-f]{64}\.cwasm)$")
    strays = [n for n in names if not allowed.match(n)]
    C.check("nothing else in the package (no function.json, local.settings.json, sources)", not strays, f"{strays}")
    C.check("entries in sorted order (deterministic)", names == sorted(names), f"{names}")
    C.check("entries carry Unix modes (created by Unix)", all(zi.create_system == 3 for zi in infos))
    modes = {zi.filename: unix_mode(zi) for zi in infos}
    C.check("mcp-host is a regular file with mode 0755", modes.get("mcp-host") == 0o100755,
            f"{(modes.get('mcp-host') or 0):o}")
    others = {n: m for n, m in modes.items() if n != "mcp-host"}
    bad = {n: f"{(m or 0):o}" for n, m in others.items() if m != (0o40755 if n.endswith("/") else 0o100644)}
    C.check("other files 0644, folders 0755", not bad, f"{bad}")
    C.check("fixed timestamps", len({zi.date_time for zi in infos}) == 1, f"{ {zi.date_time for zi in infos} }")
    C.check("mcp-host is an ELF executable", files.get("mcp-host", b"")[:4] == b"\x7fELF")

    wasms = sorted(n for n in files if n.endswith(".wasm"))
    C.check("every components/NAME.wasm is a WebAssembly component", all(is_component(files[n]) for n in wasms))
    C.check("every components/NAME.wasm has its policy NAME.toml",
            all(n[:-5] + ".toml" in files for n in wasms))
    codes = {f"precompiled/{hashlib.sha256(files[n]).hexdigest()}.cwasm" for n in wasms}
    C.check("every component has its code precompiled/SHA256.cwasm (mcp-precompile), and nothing else is there",
            codes == {n for n in files if n.startswith("precompiled/")}, f"{sorted(codes)}")
    C.check("the precompiled code is ELF (wasmtime's .cwasm)", all(files.get(n, b"")[:4] == b"\x7fELF" for n in codes))
    policy = files.get("components/weather.toml", b"")
    source_policy = (ROOT / "guest/weather/weather.toml").read_bytes()
    C.check("components/weather.toml is the production policy (guest/weather/weather.toml)", policy == source_policy)
    C.check("host.json is infra/host.json", files.get("host.json") == (ROOT / "infra/host.json").read_bytes())

    # Rebuild from the same inputs: byte-identical.
    inputs = work / "inputs"
    extract_like_unix(zip_path, inputs)
    again = work / "again.zip"
    result = run(["bash", str(ROOT / "scripts/package.sh"), "--out", str(again), "--binary", str(inputs / "mcp-host"),
                  "--host-json", str(inputs / "host.json"), "--keep-debug",
                  "--components", str(inputs / "components"), "--precompiled", str(inputs / "precompiled")],
                 timeout=120)
    same = result.returncode == 0 and again.read_bytes() == zip_path.read_bytes()
    C.check("scripts/package.sh is reproducible (rebuilt zip is byte-identical)", same,
            "" if same else result.stderr.strip() or "bytes differ")
    return files


# ---------------------------------------------------------------------------- 2. host.json


def ci_get(obj, key):
    """The Functions host reads configuration keys case-insensitively."""
    if not isinstance(obj, dict):
        return None
    for k, v in obj.items():
        if k.lower() == key.lower():
            return v
    return None


def check_host_json(files):
    C.section("host.json (custom-handler contract)")
    try:
        host = json.loads(files["host.json"])
    except Exception as e:  # noqa: BLE001
        C.check("host.json is JSON", False, str(e))
        return None
    C.check("version 2.0", ci_get(host, "version") == "2.0")
    C.check("configurationProfile is mcp-custom-handler",
            str(ci_get(host, "configurationProfile")).lower() == "mcp-custom-handler")
    handler = ci_get(host, "customHandler") or {}
    desc = ci_get(handler, "description") or {}
    level = ci_get(ci_get(handler, "http") or {}, "defaultAuthorizationLevel")
    C.check("customHandler.http.DefaultAuthorizationLevel is anonymous (no function key for /mcp)",
            str(level).lower() == "anonymous", f"{level!r}")
    exe = ci_get(desc, "defaultExecutablePath")
    C.check("defaultExecutablePath is a relative path to a file in the package",
            isinstance(exe, str) and not exe.startswith("/") and exe in files, f"{exe!r}")
    C.check("defaultExecutablePath is the native binary itself (not a script wrapper)",
            files.get(exe, b"")[:4] == b"\x7fELF")
    C.check("no fixed customHandler.port (the host picks one: FUNCTIONS_CUSTOMHANDLER_PORT)",
            ci_get(handler, "port") is None)
    args = ci_get(desc, "arguments") or []
    comp = args[args.index("--components") + 1] if "--components" in args[:-1] else None
    C.check("arguments pass --components, a folder of the package",
            comp is not None and any(n.startswith(f"{comp}/") for n in files), f"{args}")
    C.check("arguments need no quoting (the host joins them with spaces)", all(re.fullmatch(r"[^\s\"']+", a) for a in args))
    C.check("the profile's proxying and empty route prefix are not overridden",
            ci_get(handler, "enableProxyingHttpRequest") in (None, True)
            and ci_get(ci_get(ci_get(host, "extensions") or {}, "http") or {}, "routePrefix") in (None, ""))
    C.check("no function.json anywhere (forbidden with the profile)", not any(n.endswith("function.json") for n in files))
    return host


# ---------------------------------------------------------------------------- 3. portability


def glibc_needs(path: Path):
    out = run(["objdump", "-T", str(path)]).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9]+(?:\.[0-9]+)+)", out)}
    return max(versions) if versions else None


def check_portability(binary: Path):
    C.section("portability of mcp-host")
    head = binary.read_bytes()[:64]
    C.check("ELF64, little-endian, x86-64 (the Flex Consumption workers' architecture)",
            head[4] == 2 and head[5] == 1 and int.from_bytes(head[18:20], "little") == 62)
    described = run(["file", "-b", str(binary)]).stdout.strip()
    C.info(f"file: {described}")
    headers = run(["readelf", "-lW", str(binary)]).stdout
    dynamic = run(["readelf", "-dW", str(binary)]).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+?)\]", dynamic)
    interp = "INTERP" in headers
    if not interp and not needed:
        C.check("statically linked: no program interpreter, no shared libraries (runs on any Linux)",
                "statically linked" in described or "static-pie linked" in described, described)
    else:
        allowed = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1",
                   "ld-linux-x86-64.so.2"}
        C.check("shared libraries limited to glibc's own", set(needed) <= allowed, f"{needed}")
        need = glibc_needs(binary)
        C.check("no glibc symbol newer than 2.17", need is not None and need <= (2, 17),
                "GLIBC_" + ".".join(map(str, need or ())))
    plain = ROOT / "target/release/mcp-host"
    if plain.is_file():
        need = glibc_needs(plain)
        if need:
            C.info(f"for comparison, a plain `cargo build --release` needs GLIBC_{'.'.join(map(str, need))}"
                   " (Debian 11, glibc 2.31, would refuse it)" if need > (2, 31) else
                   f"for comparison, a plain build needs GLIBC_{'.'.join(map(str, need))}")
    try:
        result = run([str(binary), "--version"], env={}, timeout=20)
        C.check("it runs with an empty environment (mcp-host --version)", result.returncode == 0,
                (result.stdout or result.stderr).strip())
    except OSError as e:
        C.check("it runs with an empty environment (mcp-host --version)", False, str(e))


# ---------------------------------------------------------------------------- 4. Bicep


class Bicep:
    """One parsed Bicep file, with just enough evaluation for the assertions below."""

    def __init__(self, path: Path, tree: dict):
        self.path = path
        self.text = path.read_text()
        self.tree = tree
        self.params = tree.get("parameters", {})
        self.vars = tree.get("variables", {})
        self.resources = tree.get("resources", {})
        self.modules = tree.get("modules", {})
        self.outputs = tree.get("outputs", {})

    def render(self, node) -> str:
        """An expression as text: `identity.properties.clientId`, `union(a, b)`."""
        if isinstance(node, dict) and "operator" in node:
            op = node["operator"]
            if op["type"] == "property_accessor":
                return f"{self.render(op['operands']['operand_1'])}.{self.render(op['operands']['operand_2'])}"
            return f"<{op['type']}>"
        if isinstance(node, dict) and "function" in node:
            fn = node["function"]
            return f"{fn['type']}({', '.join(self.render(v) for v in fn['parameters'].values() if v is not None)})"
        return str(node)

    def value(self, node, choose=None):
        """Resolves identifiers naming variables, `union`, and conditionals (both branches
        merged, or the one `choose(condition)` picks)."""
        if isinstance(node, str) and node in self.vars:
            return self.value(self.vars[node]["value"], choose)
        if isinstance(node, dict) and "function" in node and node["function"]["type"] == "union":
            merged = {}
            for arg in node["function"]["parameters"].values():
                part = self.value(arg, choose)
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        if isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
            ops = node["operator"]["operands"]
            pick = choose(ops["condition"]) if choose else None
            if pick is True:
                return self.value(ops["true_value"], choose)
            if pick is False:
                return self.value(ops["false_value"], choose)
            t, f = self.value(ops["true_value"], choose), self.value(ops["false_value"], choose)
            return {**f, **t} if isinstance(t, dict) and isinstance(f, dict) else t
        return node

    def of_type(self, rtype):
        return {n: r for n, r in self.resources.items() if r["type"].lower() == rtype.lower()}


def parse_bicep():
    from pycep import BicepParser  # noqa: PLC0415

    files = sorted((ROOT / "infra").glob("*.bicep"))
    parsed = {}
    for path in files:
        try:
            parsed[path.name] = Bicep(path, BicepParser().parse(file_path=path))
            C.check(f"{path.relative_to(ROOT)} parses", True)
        except Exception as e:  # noqa: BLE001
            C.check(f"{path.relative_to(ROOT)} parses", False, str(e).splitlines()[0])
    broken = (ROOT / "infra/main.bicep").read_text().replace("}", "", 1)
    try:
        BicepParser().parse(text=broken)
        C.check("the parser rejects a broken copy of main.bicep (self-test)", False, "it parsed")
    except Exception:  # noqa: BLE001
        C.check("the parser rejects a broken copy of main.bicep (self-test)", True)
    return parsed


def check_bicep():
    C.section("infra/ (Bicep, parsed offline with pycep-parser)")
    bicep = parse_bicep()
    main, app, net = bicep.get("main.bicep"), bicep.get("app.bicep"), bicep.get("network.bicep")
    if not (main and app and net):
        C.check("infra/main.bicep, app.bicep and network.bicep present", False, f"{sorted(bicep)}")
        return None

    # Structure.
    C.check("main.bicep deploys at subscription scope", main.tree.get("globals", {}).get("scope", {}).get("value") == "subscription")
    C.check("main.bicep creates the resource group", bool(main.of_type("Microsoft.Resources/resourceGroups")))
    local_modules = [m["detail"]["path"] for b in bicep.values() for m in b.modules.values()]
    C.check("every module is a local file (no registry needed to build)",
            all((ROOT / "infra" / p).is_file() for p in local_modules)
            and not re.search(r"['\"](br|ts)[:/]", "".join(b.text for b in bicep.values())), f"{local_modules}")
    keys_used = [b.path.name for b in bicep.values() if re.search(r"listKeys\(|AccountKey=|accountKey|sas\w*Token", b.text, re.I)]
    C.check("no storage account keys or SAS anywhere", not keys_used, f"{keys_used}")
    C.check("public network access by default (vnetEnabled = false)", main.params.get("vnetEnabled", {}).get("default") is False)

    # Plan and app.
    plans = list(app.of_type("Microsoft.Web/serverfarms").values())
    C.check("a Flex Consumption plan (FC1, Linux)", len(plans) == 1 and plans[0]["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
            and plans[0]["config"]["properties"].get("reserved") is True)
    sites = app.of_type("Microsoft.Web/sites")
    site_name, site = next(iter(sites.items()), (None, None))
    if not C.check("a function app (Microsoft.Web/sites)", len(sites) == 1):
        return None
    cfg, props = site["config"], site["config"]["properties"]
    fac = props.get("functionAppConfig", {})
    C.check("kind functionapp,linux", cfg.get("kind") == "functionapp,linux")
    C.check("runtime custom 1.0 (a native custom handler)", fac.get("runtime") == {"name": "custom", "version": "1.0"},
            f"{fac.get('runtime')}")
    dep = fac.get("deployment", {}).get("storage", {})
    C.check("package from a blob container, read with the user-assigned identity",
            dep.get("type") == "blobContainer" and dep.get("authentication", {}).get("type") == "UserAssignedIdentity"
            and app.render(dep["authentication"].get("userAssignedIdentityResourceId")) == "identity.id")
    C.check("the app runs as the user-assigned identity", cfg.get("identity", {}).get("type") == "UserAssigned"
            and "'${identity.id}'" in cfg["identity"].get("userAssignedIdentities", {}))
    C.check("HTTPS only", props.get("httpsOnly") is True)
    tag = app.render(app.value(cfg.get("tags")).get("'azd-service-name'"))
    passed = main.modules.get("app", {}).get("config", {}).get("params", {}).get("serviceName")
    C.check(f"azd-service-name tag is the azure.yaml service '{SERVICE}'", tag == "serviceName" and passed == SERVICE,
            f"{tag} = {passed}")
    C.check("scale settings: instance memory, maximum instances, always-ready (optional)",
            set(fac.get("scaleAndConcurrency", {})) >= {"instanceMemoryMB", "maximumInstanceCount", "alwaysReady"})

    # Storage and containers.
    accounts = list(app.of_type("Microsoft.Storage/storageAccounts").values())
    sp = accounts[0]["config"]["properties"] if len(accounts) == 1 else {}
    C.check("a storage account without shared keys or public blobs, TLS 1.2",
            sp.get("allowSharedKeyAccess") is False and sp.get("allowBlobPublicAccess") is False
            and sp.get("minimumTlsVersion") == "TLS1_2")
    pna = sp.get("publicNetworkAccess", {})
    acl = sp.get("networkAcls", {})
    public_when_no_vnet = (isinstance(pna, dict) and pna["operator"]["operands"]["false_value"] == "Enabled"
                           and "vnetEnabled" in json.dumps(pna["operator"]["operands"]["condition"])
                           and app.value(acl["operator"]["operands"]["false_value"]).get("defaultAction") == "Allow")
    C.check("storage is reachable publicly unless vnetEnabled (make publish-component from a workstation)", public_when_no_vnet)
    containers = app.of_type("Microsoft.Storage/storageAccounts/blobServices/containers")
    names = {n: c["config"]["name"] for n, c in containers.items()}
    deployment_var = app.vars.get(names.get("deploymentContainer", ""), {}).get("value", "")
    C.check("the deployment container (app-package-…), private", str(deployment_var).startswith("app-package-")
            and containers["deploymentContainer"]["config"]["properties"]["publicAccess"] == "None"
            and "deploymentContainerName" in dep.get("value", ""))
    comp_param = main.modules["app"]["config"]["params"].get("componentsContainerName")
    C.check("the components container, private", names.get("componentsContainer") == "componentsContainerName"
            and main.vars.get(comp_param, {}).get("value") == "components"
            and containers["componentsContainer"]["config"]["properties"]["publicAccess"] == "None")
    C.check("the shared state container (mcp-state), private", names.get("stateContainer") == "mcp-state"
            and containers["stateContainer"]["config"]["properties"]["publicAccess"] == "None")
    C.check("a user-assigned managed identity", len(app.of_type("Microsoft.ManagedIdentity/userAssignedIdentities")) == 1)

    # Monitoring.
    insights = list(app.of_type("Microsoft.Insights/components").values())
    ip = insights[0]["config"]["properties"] if insights else {}
    C.check("Application Insights on a Log Analytics workspace, Entra auth only",
            len(app.of_type("Microsoft.OperationalInsights/workspaces")) == 1 and ip.get("DisableLocalAuth") is True
            and app.render(ip.get("WorkspaceResourceId")) == "logAnalytics.id")

    # Roles: exactly what the identity needs, each at its narrowest scope.
    roles = app.value("roles")
    grants = set()
    for name, r in app.of_type("Microsoft.Authorization/roleAssignments").items():
        rc = r["config"]
        conf = rc.get("config", rc)  # conditional resources nest their body
        role_ref = conf["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        role = roles.get(app.render(role_ref).split(".")[-1], "?")
        who = app.render(conf["properties"]["principalId"])
        grants.add((ROLE.get(role, role), conf["scope"], who))
    identity = "identity.properties.principalId"
    expected = {
        ("Storage Blob Data Reader", "componentsContainer", identity),
        ("Storage Blob Data Owner", "storage", identity),
        ("Monitoring Metrics Publisher", "appInsights", identity),
        ("AcrPull", "registry", identity),
    }
    C.check("identity: Storage Blob Data Reader on the components container (what mcp-host reads)",
            ("Storage Blob Data Reader", "componentsContainer", identity) in grants)
    C.check("identity: Blob Data Owner on its account (Functions host storage), Metrics Publisher on App Insights, AcrPull on the registry, nothing else",
            {g for g in grants if g[2] == identity} == expected, f"{sorted(grants)}")
    C.check("deploying principal: Storage Blob Data Contributor on the components container and AcrPush on the registry only (publish-component)",
            {g for g in grants if g[2] != identity} == {("Storage Blob Data Contributor", "componentsContainer", "principalId"),
                                                        ("AcrPush", "registry", "principalId")})
    registries = list(app.of_type("Microsoft.ContainerRegistry/registries").values())
    rc = registries[0]["config"] if registries else {}
    rp = rc.get("config", rc).get("properties", {})
    C.check("the container registry (optional): no admin user, no anonymous pull",
            len(registries) == 1 and rp.get("adminUserEnabled") is False and rp.get("anonymousPullEnabled") is False)

    # App settings.
    settings_res = app.of_type("Microsoft.Web/sites/config")
    sres = next(iter(settings_res.values()), {"config": {}})
    C.check("app settings belong to the function app", sres["config"].get("parent") == site_name
            and sres["config"].get("name") == "appsettings")
    settings = app.value(sres["config"].get("properties", {}))
    C.info("app settings: " + ", ".join(sorted(settings)))
    C.check("AzureWebJobsFeatureFlags = EnableMcpCustomHandlerPreview",
            settings.get("AzureWebJobsFeatureFlags") == "EnableMcpCustomHandlerPreview")
    C.check("host storage through the identity (AzureWebJobsStorage__credential/clientId/blobServiceUri)",
            settings.get("AzureWebJobsStorage__credential") == "managedidentity"
            and app.render(settings.get("AzureWebJobsStorage__clientId")) == "identity.properties.clientId"
            and "AzureWebJobsStorage__blobServiceUri" in settings)
    C.check("Application Insights connection string and Entra authentication string",
            "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
            and "Authorization=AAD" in str(settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")))
    C.check("AZURE_CLIENT_ID names the identity", app.render(settings.get("AZURE_CLIENT_ID")) == "identity.properties.clientId")
    C.check("MCP_STATE_ACCOUNT_URL / MCP_STATE_CONTAINER: the shared state in the account's mcp-state container, through the identity (no key)",
            app.render(settings.get("MCP_STATE_ACCOUNT_URL")) == "storage.properties.primaryEndpoints.blob"
            and settings.get("MCP_STATE_CONTAINER") == names.get("stateContainer") == "mcp-state"
            and "MCP_STATE_CONNECTION_STRING" not in settings)
    hosts = str(settings.get("MCP_ALLOWED_HOSTS", ""))
    C.check("MCP_ALLOWED_HOSTS admits 127.0.0.1 (Host the Functions proxy sends) and the app's own name",
            "127.0.0.1" in hosts.split(",") and "${site.properties.defaultHostName}" in hosts, hosts)
    key_param = main.params.get("sessionKey", {})
    decorators = {d["type"]: d.get("argument") for d in key_param.get("decorators", [])}
    generate = (decorators.get("metadata") or {}).get("azd", {})
    C.check("MCP_SESSION_KEY from a @secure() parameter of at least 32 characters, generated once by azd",
            re.search(r"^\s*MCP_SESSION_KEY:\s*sessionKey\s*$", app.text, re.M) is not None
            and "secure" in decorators and (decorators.get("min_length") or 0) >= 32
            and generate.get("type") == "generate" and generate.get("config", {}).get("length", 0) >= 32
            and key_param.get("default") is None)
    forbidden = [k for k in FORBIDDEN_SETTINGS if k in settings]
    C.check("no settings Flex rejects (FUNCTIONS_WORKER_RUNTIME, WEBSITE_RUN_FROM_PACKAGE, …) or key-based storage",
            not forbidden, f"{forbidden}")

    # Private networking.
    netmod = app.modules.get("network", {})
    C.check("vnetEnabled adds the network module", netmod.get("config", {}).get("condition") == "vnetEnabled")
    subnet = app.render(app.value(props.get("virtualNetworkSubnetId"))) if not isinstance(props.get("virtualNetworkSubnetId"), dict) else \
        app.render(props["virtualNetworkSubnetId"]["operator"]["operands"]["true_value"])
    C.check("…which integrates the app into a subnet delegated to Microsoft.App/environments",
            subnet == "network.outputs.appSubnetId" and "Microsoft.App/environments" in net.text)
    pe = list(net.of_type("Microsoft.Network/privateEndpoints").values())
    C.check("…with a blob private endpoint, its private DNS zone and a NAT gateway for outbound calls",
            len(pe) == 1 and pe[0]["config"]["properties"]["privateLinkServiceConnections"][0]["properties"]["groupIds"] == ["blob"]
            and net.of_type("Microsoft.Network/privateDnsZones") and net.of_type("Microsoft.Network/natGateways"))

    # Parameters file and outputs.
    pfile = json.loads((ROOT / "infra/main.parameters.json").read_text())["parameters"]
    C.check("main.parameters.json sets only declared parameters", set(pfile) <= set(main.params), f"{set(pfile) - set(main.params)}")
    missing = [n for n, p in main.params.items() if p.get("default") is None and n not in pfile and n != "sessionKey"]
    C.check("every parameter without a default comes from azd (or is generated)", not missing, f"{missing}")
    used = set()
    for script in ("scripts/deploy.sh", "scripts/publish-component.sh"):
        used |= set(re.findall(r"(?:get-value|azd_value) ([A-Z_]+)", (ROOT / script).read_text()))
    used -= {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID"}  # azd's own
    C.check("the outputs the scripts read exist (" + ", ".join(sorted(used)) + ")", used and used <= set(main.outputs),
            f"{used - set(main.outputs)}")
    return {"settings": settings, "app": app}


# ---------------------------------------------------------------------------- 5. azure.yaml, scripts


def check_azure_yaml():
    import yaml  # noqa: PLC0415

    C.section("azure.yaml")
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text())
    svc = (doc.get("services") or {}).get(SERVICE, {})
    C.check(f"service '{SERVICE}': host function, language custom, project .",
            svc.get("host") == "function" and svc.get("language") == "custom" and svc.get("project") == ".")
    C.check(f"dist is the prebuilt package ({PACKAGE}), deployed as is", svc.get("dist") == PACKAGE)
    C.check("the package is rebuilt before azd packages (prepackage: make package)",
            (svc.get("hooks") or {}).get("prepackage", {}).get("run") == "make package")
    C.check("requires azd >= 1.20.0 (custom language)", ">= 1.20" in str((doc.get("requiredVersions") or {}).get("azd")))
    infra = doc.get("infra") or {}
    C.check("infra: infra/main.bicep", (ROOT / infra.get("path", "infra") / f"{infra.get('module', 'main')}.bicep").is_file())


def check_scripts(root: Path):
    C.section("scripts (dry runs, nothing reaches Azure)")
    wasm = root / "components/weather.wasm"
    env = {**os.environ, "DRY_RUN": "1", "AZURE_STORAGE_ACCOUNT_NAME": "stexample", "COMPONENTS_CONTAINER_NAME": "components"}
    r = run(["bash", str(ROOT / "scripts/publish-component.sh"), str(wasm)], env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("az ")]
    want = ["--name weather.toml", "--name weather.wasm"]
    C.check("publish-component uploads NAME.toml then NAME.wasm to the components container",
            r.returncode == 0 and len(lines) == 2 and all(w in l for w, l in zip(want, lines))
            and all("--account-name stexample --container-name components" in l for l in lines), r.stdout + r.stderr)
    C.check("…with az storage blob upload --auth-mode login (no keys, no SAS)",
            all("az storage blob upload --auth-mode login" in l for l in lines)
            and not re.search(r"account-key|sas-token|connection-string", r.stdout))
    bogus = root.parent / "bogus.wasm"
    bogus.write_bytes(b"\0asm\x01\x00\x00\x00")  # a core module
    r = run(["bash", str(ROOT / "scripts/publish-component.sh"), str(bogus)], env=env)
    C.check("publish-component refuses a core module", r.returncode != 0 and "not a component" in r.stderr, r.stderr.strip())
    r = run(["bash", str(ROOT / "scripts/deploy.sh")], env={**os.environ, "DRY_RUN": "1", "AZURE_ENV_NAME": "example",
                                                             "AZURE_LOCATION": "eastus2", "AZURE_SUBSCRIPTION_ID": "0"})
    C.check("deploy runs azd up --no-prompt and reads MCP_URL", r.returncode == 0 and "azd up --no-prompt" in r.stdout
            and "MCP_URL" in r.stdout, r.stdout + r.stderr)
    C.check("…and writes the MCP Registry entry build/server.json", "server-json.py" in r.stdout, r.stdout)
    url = f"https://{PUBLIC_HOST}/mcp"
    r = run([sys.executable, str(ROOT / "scripts/server-json.py"), url])
    entry = json.loads(r.stdout) if r.returncode == 0 else {}
    C.check("server.json: a remote-only registry entry for the deployed URL",
            entry.get("$schema", "").endswith("/server.schema.json")
            and entry.get("remotes") == [{"type": "streamable-http", "url": url}]
            and re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", entry.get("name", "")) is not None
            and len(entry.get("description", "")) <= 100 and entry.get("version"), r.stdout + r.stderr)
    r = run([sys.executable, str(ROOT / "scripts/server-json.py"), "http://127.0.0.1:8080/mcp"])
    C.check("server.json: refuses a URL that is not public https", r.returncode != 0, r.stderr.strip())


# ---------------------------------------------------------------------------- 6. emulation


def stand_in_settings(bicep, session_key):
    """The app settings the Bicep declares, with stand-ins for values known only in Azure."""
    stand_ins = {
        "identity.properties.clientId": "00000000-0000-0000-0000-00000000c1d0",
        "storage.properties.primaryEndpoints.blob": "https://stexample.blob.core.windows.net/",
        "appInsights.properties.ConnectionString": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://example.invalid/",
        "site.properties.defaultHostName": PUBLIC_HOST,
        "componentsContainerName": "components",
        "sessionKey": session_key,
    }
    app = bicep["app"]

    def with_defaults(condition):
        # `empty(param)` for a parameter left at its default: main.bicep passes '' for
        # allowedOrigins unless MCP_ALLOWED_ORIGINS is set.
        if isinstance(condition, dict) and condition.get("function", {}).get("type") == "empty":
            return True
        return None

    settings = app.value(app.of_type("Microsoft.Web/sites/config")["appSettings"]["config"]["properties"],
                         choose=with_defaults)
    env, unknown = {}, []
    for key, node in settings.items():
        if isinstance(node, str) and "${" in node:
            def sub(m):
                if m.group(1) not in stand_ins:
                    unknown.append(m.group(1))
                return stand_ins.get(m.group(1), "")
            env[key] = re.sub(r"\$\{([^}]+)\}", sub, node)
        elif isinstance(node, str) and (node in app.params or node in app.vars):
            env[key] = stand_ins.get(node) or unknown.append(node) or ""
        elif isinstance(node, str):
            env[key] = node
        else:
            path = app.render(node)
            env[key] = stand_ins.get(path) or unknown.append(path) or ""
    C.check("every app setting has a value or a stand-in for the emulation", not unknown, f"{unknown}")
    return env


class Handler:
    """The custom handler started as the Functions host does (HttpWorkerOptionsSetup,
    HttpWorkerDescription, DefaultWorkerProcessFactory)."""

    def __init__(self, root: Path, host: dict, settings: dict, logs: Path, label: str):
        self.port = free_port()
        self.worker_id = str(uuid.uuid4())
        handler = ci_get(host, "customHandler")
        desc = ci_get(handler, "description")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(root.parent), "WEBSITE_SKU": "FlexConsumption",
               "WEBSITE_HOSTNAME": PUBLIC_HOST, **settings}
        env.update({
            "FUNCTIONS_HTTPWORKER_PORT": str(self.port), "FUNCTIONS_HTTPWORKER_ID": self.worker_id,
            "FUNCTIONS_CUSTOMHANDLER_PORT": str(self.port), "FUNCTIONS_CUSTOMHANDLER_WORKER_ID": self.worker_id,
            "FUNCTIONS_APP_ROOT_PATH": str(root),
        })
        wd = ci_get(desc, "workingDirectory") or ""
        self.cwd = root if not wd else (Path(wd) if wd.startswith("/") else root / wd)
        exe = ci_get(desc, "defaultExecutablePath")
        candidate = exe if exe.startswith("/") else str(root / exe)
        self.exe = candidate if Path(candidate).is_file() else shutil.which(exe, path=env["PATH"])
        # The host joins the arguments into one command line, then expands %VAR% from the
        # worker's environment and drops unresolved ones.
        line = "".join(f" {a}" for a in (ci_get(desc, "arguments") or []) + (ci_get(desc, "workerArguments") or []))
        for k, v in env.items():
            line = line.replace(f"%{k}%", v)
        self.args = shlex.split(re.sub(r"%(.+?)%", "", line))
        self.stdout = (logs / f"{label}.stdout").open("w+")
        self.stderr = (logs / f"{label}.stderr").open("w+")
        self.env = env
        self.proc = None

    def start(self):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([self.exe, *self.args], cwd=self.cwd, env=self.env, stdout=self.stdout,
                                     stderr=self.stderr, start_new_session=True)

    def wait_ready(self, timeout=30.0, interval=0.025):
        """DefaultHttpWorkerService.IsWorkerReady: GET / every 25 ms; any response counts."""
        deadline = self.started + timeout
        polls = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return None, polls, None
            polls += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/")
                status = conn.getresponse().status
                conn.close()
                return time.monotonic() - self.started, polls, status
            except OSError:
                time.sleep(interval)
        return None, polls, None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                return None
        return self.proc.returncode if self.proc else None

    def logs(self):
        self.stdout.flush()
        self.stderr.flush()
        return Path(self.stdout.name).read_text(), Path(self.stderr.name).read_text()


def proxy_headers(port, host=None):
    """What the Functions host's YARP forwarder sends (HttpTransformer.Default: Host is the
    destination, the original name moves to X-Forwarded-Host) plus the host's own headers."""
    return {
        "Host": host or f"127.0.0.1:{port}",
        "X-Forwarded-Host": PUBLIC_HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
        "X-Azure-Functions-HostVersion": "4.1045.200.25556",
        "X-Azure-Functions-InvocationId": str(uuid.uuid4()),
        "User-Agent": "openai-mcp/1.0.0",
    }


def mcp_post(port, message, session=None, host=None, timeout=60):
    headers = {**proxy_headers(port, host), "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    if isinstance(message, dict) and message.get("method") not in (None, "initialize"):
        headers["MCP-Protocol-Version"] = "2025-06-18"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("POST", "/mcp", body=json.dumps(message), headers=headers)
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    messages = []
    if resp.getheader("content-type", "").startswith("text/event-stream"):
        for event in body.split("\n\n"):
            data = "\n".join(l[5:].lstrip() for l in event.splitlines() if l.startswith("data:"))
            if data:
                messages.append(json.loads(data))
    elif body.strip():
        messages.append(json.loads(body))
    return resp.status, resp, body, messages


def start_fake(fake: Path):
    proc = subprocess.Popen([str(fake), "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], 15)
    line = proc.stdout.readline() if ready else ""
    m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    return proc, (m.group(1) if m else None)


def check_emulation(zip_path: Path, host: dict, bicep, fake: Path, work: Path):
    C.section("Functions host emulation (unpacked package, FUNCTIONS_CUSTOMHANDLER_PORT, GET / probe, MCP)")
    root = work / "home/site/wwwroot"
    root.mkdir(parents=True)
    extract_like_unix(zip_path, root)
    exe = root / ci_get(ci_get(ci_get(host, "customHandler"), "description"), "defaultExecutablePath")
    if not C.check("the unpacked executable is executable as unpacked (no chmod by the test)", os.access(exe, os.X_OK),
                   f"mode {exe.stat().st_mode & 0o7777:o}"):
        return
    if not C.check("the fake Open-Meteo API is built (make build)", fake.is_file(), str(fake)):
        return

    # Test-only: point the component's policy at the local fake instead of api.open-meteo.com.
    policy = root / "components/weather.toml"
    fake_proc, fake_url = start_fake(fake)
    handlers = []
    try:
        if not C.check("the fake Open-Meteo API listens on loopback", fake_url is not None):
            return
        text = policy.read_text().replace("https://api.open-meteo.com", fake_url)
        policy.write_text(text)

        session_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))
        settings = stand_in_settings(bicep, session_key) if bicep else {}
        logs = work / "logs"
        logs.mkdir()
        first = Handler(root, host, settings, logs, "instance-1")
        handlers.append(first)
        C.info(f"started {first.exe} {' '.join(first.args)} in {first.cwd} with FUNCTIONS_CUSTOMHANDLER_PORT={first.port}")
        first.start()
        took, polls, status = first.wait_ready()
        C.check("the readiness probe (GET / every 25 ms) is answered within the 30 s initialization limit",
                took is not None, f"{took * 1000:.0f} ms, {polls} polls" if took is not None else
                f"no answer; exit {first.proc.poll()}; {first.logs()}")
        if took is None:
            return
        C.check("GET / answers 200", status == 200, f"{status}")

        # One session, as ChatGPT's connector runs it, through the proxy's headers.
        t0 = time.monotonic()
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "openai-mcp", "version": "1.0.0"}}}
        st, resp, body, msgs = mcp_post(first.port, init)
        session = resp.getheader("mcp-session-id")
        C.check("initialize: 200, serverInfo, an Mcp-Session-Id", st == 200 and msgs and "serverInfo" in msgs[-1].get("result", {})
                and session, f"{st} {body[:300]}")
        C.info(f"first answer {(time.monotonic() - t0) * 1000:.0f} ms after readiness (components compiled meanwhile)")
        st, _, body, _ = mcp_post(first.port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        C.check("notifications/initialized: 202", st == 202, f"{st} {body[:200]}")
        st, _, body, msgs = mcp_post(first.port, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
        tools = [t["name"] for t in (msgs[-1].get("result", {}).get("tools", []) if msgs else [])]
        C.check("tools/list offers get_current_weather", st == 200 and "get_current_weather" in tools, f"{st} {tools}")
        call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "get_current_weather", "arguments": {"latitude": 52.52, "longitude": 13.41}}}
        st, resp, body, msgs = mcp_post(first.port, call, session)
        result = msgs[-1].get("result", {}) if msgs else {}
        C.check('tools/call get_current_weather: "temperature":6.3 from the (fake) forecast API',
                st == 200 and '"temperature":6.3' in body and not result.get("isError")
                and result.get("structuredContent", {}).get("current", {}).get("temperature") == 6.3, f"{st} {body[:400]}")
        loaded = [line for line in "".join(first.logs()).splitlines() if "component loaded" in line]
        C.check("weather.wasm ran from the package's precompiled code, not compiled on the instance",
                any('component="weather"' in line and 'code="precompiled"' in line for line in loaded), f"{loaded}")
        call["id"], call["params"]["_meta"] = 4, {"progressToken": "p-1"}
        st, resp, body, msgs = mcp_post(first.port, call, session)
        C.check("a call reporting progress streams (SSE) through, result last",
                st == 200 and resp.getheader("content-type", "").startswith("text/event-stream")
                and any(m.get("method") == "notifications/progress" for m in msgs)
                and msgs[-1].get("result", {}).get("structuredContent", {}).get("current", {}).get("temperature") == 6.3,
                f"{st} {body[:300]}")

        # The Host allow-list from the Bicep's MCP_ALLOWED_HOSTS.
        st, _, body, _ = mcp_post(first.port, {"jsonrpc": "2.0", "id": 5, "method": "ping"}, session, host=PUBLIC_HOST)
        C.check("Host: the app's public name is accepted too (MCP_ALLOWED_HOSTS)", st == 200, f"{st} {body[:200]}")
        st, _, body, _ = mcp_post(first.port, {"jsonrpc": "2.0", "id": 6, "method": "ping"}, session, host="evil.example")
        C.check("Host: any other name gets 403 (DNS-rebinding guard active)", st == 403, f"{st} {body[:200]}")

        # Scale-out: a second instance with the same MCP_SESSION_KEY accepts the session.
        second = Handler(root, host, settings, logs, "instance-2")
        handlers.append(second)
        second.start()
        took2, _, _ = second.wait_ready()
        st, _, body, msgs = mcp_post(second.port, {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, session) \
            if took2 is not None else (None, None, "not ready", [])
        C.check("a second instance sharing MCP_SESSION_KEY serves the first one's session", st == 200
                and msgs and msgs[-1].get("result", {}).get("tools"), f"{st} {body[:200]}")

        codes = [h.stop() for h in handlers]
        C.check("SIGTERM stops each instance cleanly within 5 s", codes == [0] * len(handlers), f"{codes}")
        out, err = first.logs()
        C.check("logs go to stdout (listening, ready, one line per request)",
                "listening" in out and "ready" in out and "get_current_weather" in out, out[-500:])
        errs = [h.logs()[1] for h in handlers]
        C.check("nothing on stderr (the Functions host records stderr lines as errors)", not any(errs), " | ".join(e for e in errs if e)[:500])
    finally:
        for h in handlers:
            h.stop()
        if fake_proc.poll() is None:
            fake_proc.terminate()
            try:
                fake_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                fake_proc.kill()


# ---------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zip", default=str(ROOT / PACKAGE))
    ap.add_argument("--fake", default=str(ROOT / "target/release/fake-open-meteo"))
    opts = ap.parse_args()
    zip_path = Path(opts.zip).resolve()
    work = Path(tempfile.mkdtemp(prefix="deploy-checks-"))

    def guarded(section, fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - a crash is a failed check, and the summary still prints
            C.check(f"{section} ran to the end", False, f"{type(e).__name__}: {e}")
            return None

    try:
        files = guarded("package checks", check_package, zip_path, work)
        host = guarded("host.json checks", check_host_json, files) if files else None
        if files:
            unpacked = work / "portability"
            extract_like_unix(zip_path, unpacked)
            guarded("portability checks", check_portability, unpacked / "mcp-host")
        bicep = guarded("Bicep checks", check_bicep)
        guarded("azure.yaml checks", check_azure_yaml)
        if files:
            guarded("script checks", check_scripts, work / "inputs")
        if files and host:
            guarded("emulation", check_emulation, zip_path, host, bicep, Path(opts.fake), work / "emulation")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ndeploy-checks: {C.passed} passed, {len(C.failed)} failed")
    for name in C.failed:
        print(f"  failed: {name}")
    sys.exit(1 if C.failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Deploys the SuperOffice token broker: checks (Azure CLI version, build, policy), resource group, ARM template
# (infra/main.json), the app's Key Vault secrets, then the code package. Idempotent: run it again to update;
# existing audit/cookie keys are kept.
#
#   SUPEROFFICE_CLIENT_SECRET=… infra/deploy.sh \
#     --resource-group rg-broker --location westeurope --name-prefix sobroker \
#     --client-id <SuperOffice client_id> --environment sod \
#     --api-client-id <Entra app registration client id of the broker API> \
#     --rsa-key-file key.xml --policy-file policy.json [--tenant-ids <guid,guid>] \
#     [--deployer-object-id <object id> --deployer-type User|ServicePrincipal|Group] [--dry-run]
#     [--subscribers-file subscribers.json]   (event subscribers and rules: {"subscribers":[…],"rules":[…]}, docs/ops.md)
#
# Needs Azure CLI 2.60.0 or later (Flex Consumption), node 20+, npm and zip. The client_secret is read from
# SUPEROFFICE_CLIENT_SECRET or prompted for (never an argument, never echoed). Secret values only ever pass through
# files in a private temporary directory (mode 600, removed on exit) and `az keyvault secret set --file`, so they
# never appear on a command line, in `ps`, or in this script's output. Steps that wait for role assignments to
# apply retry every DEPLOY_RETRY_DELAY_SECONDS (default 15).
# --dry-run prints every command (prefixed "+ ") without running anything: no az, npm or network needed.
set -euo pipefail

readonly DEPLOYMENT_NAME='superoffice-broker'
readonly TEMPLATE='infra/main.json'
readonly PARAMETERS='infra/main.parameters.json'
# Flex Consumption needs Azure CLI 2.60.0 or later ("Prerequisites" in
# https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to); older releases (Debian's 2.45) deploy
# a Flex app the Consumption way and fail.
readonly MIN_AZ_VERSION='2.60.0'
readonly PUBLISH_ATTEMPTS=20
readonly GUID_RE='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() {
  sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 2
}

resource_group='' location='' name_prefix='' client_id='' environment='' rsa_key_file='' policy_file=''
api_client_id='' tenant_ids='' deployer_object_id='' deployer_type='User' dry_run=0 subscribers_file=''

while (($# > 0)); do
  case "$1" in
    --resource-group) resource_group="${2-}"; shift 2 || die "$1 needs a value" ;;
    --location) location="${2-}"; shift 2 || die "$1 needs a value" ;;
    --name-prefix) name_prefix="${2-}"; shift 2 || die "$1 needs a value" ;;
    --client-id) client_id="${2-}"; shift 2 || die "$1 needs a value" ;;
    --environment) environment="${2-}"; shift 2 || die "$1 needs a value" ;;
    --rsa-key-file) rsa_key_file="${2-}"; shift 2 || die "$1 needs a value" ;;
    --policy-file) policy_file="${2-}"; shift 2 || die "$1 needs a value" ;;
    --api-client-id) api_client_id="${2-}"; shift 2 || die "$1 needs a value" ;;
    --tenant-ids) tenant_ids="${2-}"; shift 2 || die "$1 needs a value" ;;
    --deployer-object-id) deployer_object_id="${2-}"; shift 2 || die "$1 needs a value" ;;
    --deployer-type) deployer_type="${2-}"; shift 2 || die "$1 needs a value" ;;
    --subscribers-file) subscribers_file="${2-}"; shift 2 || die "$1 needs a value" ;;
    --dry-run) dry_run=1; shift ;;
    --client-secret*) die 'the client_secret is never an argument; set SUPEROFFICE_CLIENT_SECRET or answer the prompt' ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

# ---- validate the inputs before touching anything -----------------------------------------------------------
[[ -n $resource_group ]] || die '--resource-group is required'
[[ -n $location ]] || die '--location is required'
[[ $name_prefix =~ ^[a-z][a-z0-9]{2,10}$ ]] || die '--name-prefix must be 3-11 lower-case letters and digits, starting with a letter'
[[ $client_id =~ ^[A-Za-z0-9_-]{8,128}$ ]] || die '--client-id must be the SuperOffice client_id (8-128 letters, digits, - or _)'
[[ $environment =~ ^(sod|qaonline|online)$ ]] || die '--environment must be sod, qaonline or online'
[[ $api_client_id =~ $GUID_RE ]] || die "--api-client-id must be the broker API app registration's client id (a GUID)"
if [[ -n $tenant_ids ]]; then
  IFS=',' read -r -a tenant_list <<<"$tenant_ids"
  for tenant in "${tenant_list[@]}"; do [[ $tenant =~ $GUID_RE ]] || die '--tenant-ids must be comma-separated GUIDs'; done
fi
[[ -z $deployer_object_id || $deployer_object_id =~ $GUID_RE ]] || die '--deployer-object-id must be a GUID'
[[ $deployer_type =~ ^(User|ServicePrincipal|Group)$ ]] || die '--deployer-type must be User, ServicePrincipal or Group'
[[ -n $rsa_key_file && -r $rsa_key_file ]] || die '--rsa-key-file must name a readable PEM or SuperOffice XML key file'
[[ -n $policy_file && -r $policy_file ]] || die '--policy-file must name a readable JSON policy file'
command -v node >/dev/null || die 'node (20 or later) is required'
retry_delay="${DEPLOY_RETRY_DELAY_SECONDS:-15}"
[[ $retry_delay =~ ^[0-9]{1,3}$ ]] || die 'DEPLOY_RETRY_DELAY_SECONDS must be a number of seconds (0-999)'
node -e 'JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"))' "$policy_file" 2>/dev/null ||
  die "--policy-file $policy_file is not valid JSON"
if [[ -n $subscribers_file ]]; then
  [[ -r $subscribers_file ]] || die '--subscribers-file must name a readable JSON file'
  node -e '
    const d = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const keys = Object.keys(d ?? {});
    if (!Array.isArray(d?.subscribers) || !(d.rules === undefined || Array.isArray(d.rules)) || keys.some((k) => k !== "subscribers" && k !== "rules")) process.exit(1);
  ' "$subscribers_file" 2>/dev/null ||
    die "--subscribers-file $subscribers_file must be JSON {\"subscribers\": [...], \"rules\": [...]} (the eventSubscribers and eventRules template parameters)"
fi

# ---- the client_secret: environment or prompt, then out of the environment --------------------------------------
client_secret="${SUPEROFFICE_CLIENT_SECRET-}"
# Children (az, npm and its install scripts) must not inherit it.
unset SUPEROFFICE_CLIENT_SECRET
if [[ -z $client_secret && $dry_run -eq 0 ]]; then
  [[ -t 0 ]] || die 'set SUPEROFFICE_CLIENT_SECRET or run interactively to be prompted for the client_secret'
  IFS= read -r -s -p 'SuperOffice client_secret (input hidden): ' client_secret
  printf '\n' >&2
  [[ -n $client_secret ]] || die 'the client_secret must not be empty'
fi

if ((dry_run == 0)); then
  for tool in az npm zip; do command -v "$tool" >/dev/null || die "$tool is required"; done
  work="$(mktemp -d "${TMPDIR:-/tmp}/broker-deploy.XXXXXXXX")"
  chmod 700 "$work"
  trap 'rm -rf "$work"' EXIT
else
  work='<tmpdir>'
fi

# Commands are shown on fd 3 (stdout) even from inside $(…).
exec 3>&1

# show CMD…: prints the command, single-quoting arguments that need it (no subshells: this runs often).
show() {
  local line='+' arg
  for arg in "$@"; do
    if [[ $arg =~ ^[][A-Za-z0-9_@%+=:,./\<\>{}-]+$ ]]; then
      line+=" $arg"
    else
      line+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line" >&3
}

# run CMD…: show it; run it unless dry.
run() {
  show "$@"
  ((dry_run)) || "$@"
}

# capture PLACEHOLDER CMD…: show it; print its output, or PLACEHOLDER when dry.
capture() {
  local placeholder="$1"
  shift
  show "$@"
  if ((dry_run)); then printf '%s' "$placeholder"; else "$@"; fi
}

step() {
  printf '\n==> %s\n' "$*" >&3
}

# write_secret_file NAME: writes the value on stdin to $work/NAME with mode 600 (value never shown).
write_secret_file() {
  if ((dry_run)); then
    cat >/dev/null
  else
    (umask 077 && cat >"$work/$1")
  fi
}

# kv_set NAME: stores $work/NAME in the vault; retries while a fresh role assignment propagates.
kv_set() {
  local args=(az keyvault secret set --vault-name "$vault" --name "$1" --file "$work/$1" --encoding utf-8 --output none)
  show "${args[@]}"
  ((dry_run)) && return 0
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if "${args[@]}"; then
      rm -f "$work/$1"
      return 0
    fi
    ((attempt < 10)) && { printf 'retrying in %s s (role assignments can take minutes to apply)\n' "$retry_delay" >&2; sleep "$retry_delay"; }
  done
  die "could not store $1 in Key Vault $vault"
}

# kv_exists NAME: 0 if the secret exists, 1 if Key Vault says SecretNotFound; any other failure stops the script,
# so an access problem never leads to overwriting an existing key. Dry run: assumes absent.
kv_exists() {
  local args=(az keyvault secret show --vault-name "$vault" --name "$1" --query id --output tsv)
  show "${args[@]}"
  ((dry_run)) && return 1
  local err attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if err="$("${args[@]}" 2>&1 >/dev/null)"; then return 0; fi
    [[ $err == *SecretNotFound* ]] && return 1
    [[ $err == *Forbidden* && $attempt -lt 10 ]] || break
    printf 'retrying in %s s (role assignments can take minutes to apply)\n' "$retry_delay" >&2
    sleep "$retry_delay"
  done
  die "cannot check whether $1 exists: $err"
}

# check_az_version: refuses an Azure CLI older than MIN_AZ_VERSION, naming the minimum.
check_az_version() {
  local args=(az version --output json)
  show "${args[@]}"
  if ((dry_run)); then
    printf 'not run in a dry run: Azure CLI %s or later is required\n' "$MIN_AZ_VERSION" >&3
    return 0
  fi
  local json version
  json="$("${args[@]}")" || die "'az version' failed; Flex Consumption needs Azure CLI $MIN_AZ_VERSION or later"
  if ! version="$(node -e '
      let v;
      try { v = JSON.parse(require("node:fs").readFileSync(0, "utf8"))["azure-cli"]; } catch {}
      if (typeof v !== "string" || !/^\d+\.\d+\.\d+/.test(v)) { process.stdout.write("unknown"); process.exit(1); }
      process.stdout.write(v);
      const have = v.split(".").map((p) => parseInt(p, 10));
      const need = process.argv[1].split(".").map(Number);
      for (let i = 0; i < 3; i++) if (have[i] !== need[i]) process.exit(have[i] > need[i] ? 0 : 1);
    ' "$MIN_AZ_VERSION" <<<"$json")"; then
    [[ $version != unknown ]] || die "cannot read the Azure CLI version from 'az version'; Flex Consumption needs $MIN_AZ_VERSION or later"
    die "Azure CLI $version is too old to deploy to Flex Consumption: $MIN_AZ_VERSION or later is required (https://learn.microsoft.com/cli/azure/install-azure-cli)"
  fi
  printf 'Azure CLI %s (%s or later required)\n' "$version" "$MIN_AZ_VERSION" >&3
}

# validate_file <flag> <file> <checker> <npm script>: a deployment input goes through the broker's own loader
# (scripts/<checker>.ts); read-only and local, so a dry run checks it too when the checker is installed.
validate_file() {
  local flag=$1 file=$2 checker=$3 npm_script=$4
  show npx tsx "scripts/$checker.ts" "$file"
  if ((dry_run == 0)); then
    npx tsx "scripts/$checker.ts" "$file" >&3 || die "$flag $file cannot be deployed (see the line above)"
  elif [[ -e node_modules/tsx/package.json ]]; then
    node --import tsx "scripts/$checker.ts" "$file" >&3 || die "$flag $file cannot be deployed (see the line above)"
  else
    printf 'not run in this dry run: npm ci installs the checker (or: npm ci && npm run %s -- %s)\n' "$npm_script" "$file" >&3
  fi
}

# validate_policy: the policy; a policy without callers is refused too.
validate_policy() {
  validate_file --policy-file "$policy_file" validate-policy policy:validate
}

# validate_subscribers: the subscribers file (queue names, identities, rules), when one is given.
validate_subscribers() {
  [[ -n $subscribers_file ]] || return 0
  validate_file --subscribers-file "$subscribers_file" validate-subscribers subscribers:validate
}

# recover_deleted_vault: after the resource group was deleted, the purge-protected vault is soft-deleted and keeps
# its name (derived from subscription, resource group and prefix) for the retention period; the template would
# fail on it. Recover it (its secrets come back with it) before deploying the template.
recover_deleted_vault() {
  local deleted match name vault_location
  show az keyvault list-deleted --resource-type vault --output json
  if ((dry_run)); then
    printf 'not run in a dry run: a soft-deleted vault of this resource group and prefix would be recovered here (az keyvault recover)\n' >&3
    return 0
  fi
  if ! deleted="$(az keyvault list-deleted --resource-type vault --output json)"; then
    printf 'cannot list soft-deleted vaults (needs Microsoft.KeyVault/deletedVaults/read on the subscription); if the deployment then fails on the vault name, run: az keyvault recover --name <vault> --resource-group %s\n' "$resource_group" >&2
    return 0
  fi
  match="$(P_RG="$resource_group" P_PREFIX="$name_prefix" node -e '
    let list;
    try { list = JSON.parse(require("node:fs").readFileSync(0, "utf8")); } catch { list = []; }
    const rg = process.env.P_RG.toLowerCase();
    const prefix = `${process.env.P_PREFIX}-kv-`;
    for (const vault of Array.isArray(list) ? list : []) {
      const name = String(vault?.name ?? "");
      const id = String(vault?.properties?.vaultId ?? "").toLowerCase();
      const m = /\/resourcegroups\/([^/]+)\/providers\/microsoft\.keyvault\/vaults\/([^/]+)$/.exec(id);
      if (m && m[1] === rg && m[2] === name.toLowerCase() && name.startsWith(prefix) && /^[a-z0-9-]{3,24}$/.test(name)) {
        process.stdout.write(`${name}\t${String(vault.properties.location ?? "")}\n`);
        break;
      }
    }
  ' <<<"$deleted")"
  if [[ -z $match ]]; then
    printf 'no soft-deleted vault of this deployment\n' >&3
    return 0
  fi
  IFS=$'\t' read -r name vault_location <<<"$match"
  local normalized="${location// /}"
  if [[ ${vault_location,,} != "${normalized,,}" ]]; then
    die "the soft-deleted Key Vault $name of this resource group and prefix is in $vault_location, not $location; purge protection keeps its name reserved: deploy with --location $vault_location, or use another --name-prefix"
  fi
  printf 'Key Vault %s of an earlier deployment is soft-deleted; recovering it (its secrets come back with it)\n' "$name" >&3
  run az keyvault recover --name "$name" --resource-group "$resource_group" --location "$vault_location" --output none
}

# publish: OneDeploy of the package to the Flex deployment container. On a first deployment the app identity's
# Storage Blob Data Owner assignment can take minutes to apply, so the publish is retried.
publish() {
  local args=(az functionapp deployment source config-zip --resource-group "$resource_group" --name "$app"
    --src "$work/package.zip" --output none)
  show "${args[@]}"
  ((dry_run)) && return 0
  local attempt
  for ((attempt = 1; attempt <= PUBLISH_ATTEMPTS; attempt++)); do
    if "${args[@]}"; then return 0; fi
    if ((attempt < PUBLISH_ATTEMPTS)); then
      printf 'publish attempt %d of %d failed; retrying in %s s (role assignments can take minutes to apply)\n' \
        "$attempt" "$PUBLISH_ATTEMPTS" "$retry_delay" >&2
      sleep "$retry_delay"
    fi
  done
  die "could not publish the code to $app after $PUBLISH_ATTEMPTS attempts"
}

# ---- 1. checks that need no Azure changes -----------------------------------------------------------------------
step 'Azure CLI version'
check_az_version

step 'Build the bundle and check the policy'
run npm ci
run npm run build
validate_policy
validate_subscribers

# ---- 2. who deploys (gets Key Vault Secrets Officer on the vault to seed secrets) -------------------------------
step 'Signed-in deployer'
if [[ -z $deployer_object_id ]]; then
  deployer_object_id="$(capture '<deployer-object-id>' az ad signed-in-user show --query id --output tsv)"
fi

# ---- 3. resource group, a soft-deleted vault of an earlier deployment, template ----------------------------------
step "Resource group $resource_group"
run az group create --name "$resource_group" --location "$location" --output none

step 'Soft-deleted Key Vault of an earlier deployment'
recover_deleted_vault

step 'Infrastructure (infra/main.json)'
parameter_names='namePrefix,location,superOfficeEnvironment,superOfficeClientId,entraAudience,entraTenantIds,brokerPolicy,deployerPrincipalId,deployerPrincipalType'
[[ -z $subscribers_file ]] || parameter_names+=',eventSubscribers,eventRules'
show write "$work/parameters.json" "$parameter_names"
if ((dry_run == 0)); then
  # Values travel as environment variables of this one node process; none of them is secret.
  P_PREFIX="$name_prefix" P_LOCATION="$location" P_ENV="$environment" P_CLIENT_ID="$client_id" \
    P_AUDIENCE="$api_client_id" P_TENANTS="$tenant_ids" P_POLICY_FILE="$policy_file" \
    P_DEPLOYER="$deployer_object_id" P_DEPLOYER_TYPE="$deployer_type" P_SUBSCRIBERS_FILE="$subscribers_file" node -e '
      const fs = require("node:fs");
      const e = process.env;
      const p = {
        namePrefix: e.P_PREFIX, location: e.P_LOCATION, superOfficeEnvironment: e.P_ENV,
        superOfficeClientId: e.P_CLIENT_ID, entraAudience: e.P_AUDIENCE,
        brokerPolicy: JSON.stringify(JSON.parse(fs.readFileSync(e.P_POLICY_FILE, "utf8"))),
        deployerPrincipalId: e.P_DEPLOYER, deployerPrincipalType: e.P_DEPLOYER_TYPE,
      };
      if (e.P_TENANTS) p.entraTenantIds = e.P_TENANTS;
      if (e.P_SUBSCRIBERS_FILE) {
        const s = JSON.parse(fs.readFileSync(e.P_SUBSCRIBERS_FILE, "utf8"));
        p.eventSubscribers = s.subscribers;
        p.eventRules = s.rules ?? [];
      }
      const parameters = Object.fromEntries(Object.entries(p).map(([k, v]) => [k, { value: v }]));
      fs.writeFileSync(process.argv[1], JSON.stringify({
        $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        contentVersion: "1.0.0.0", parameters }, null, 2));
    ' "$work/parameters.json"
fi
run az deployment group create --resource-group "$resource_group" --name "$DEPLOYMENT_NAME" \
  --template-file "$TEMPLATE" --parameters "@$PARAMETERS" --parameters "@$work/parameters.json" --output none

output() {
  capture "<$1>" az deployment group show --resource-group "$resource_group" --name "$DEPLOYMENT_NAME" \
    --query "properties.outputs.$1.value" --output tsv
}
app="$(output functionAppName)"
vault="$(output keyVaultName)"
app_url="$(output functionAppUrl)"
redirect_uri="$(output superOfficeRedirectUri)"
identity_principal="$(output identityPrincipalId)"

# ---- 4. secrets, before the code: the app reads them as it starts --------------------------------------------
step "Secrets in Key Vault $vault"
show write '<redacted>' '>' "$work/superoffice-client-secret"
printf '%s' "$client_secret" | write_secret_file superoffice-client-secret
client_secret=''
kv_set superoffice-client-secret

show npx tsx scripts/convert-rsa-key.ts "$rsa_key_file" '>' "$work/superoffice-rsa-private-key"
if ((dry_run == 0)); then
  npx tsx scripts/convert-rsa-key.ts "$rsa_key_file" | write_secret_file superoffice-rsa-private-key
fi
kv_set superoffice-rsa-private-key

for name in audit-hmac-key audit-heads-key state-cookie-key actions-hmac-key; do
  if kv_exists "$name"; then
    printf '%s exists; kept (rotate it as described in docs/ops.md)\n' "$name" >&3
  else
    show node -e '<32 random bytes, base64>' '>' "$work/$name"
    if ((dry_run == 0)); then
      node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("base64"))' | write_secret_file "$name"
    fi
    kv_set "$name"
  fi
done

# ---- 5. the code (Flex Consumption: OneDeploy to the deployment container) ------------------------------------
step "Deploy the code to $app"
run zip -q -r "$work/package.zip" host.json package.json dist
publish

# ---- 6. what is left for a human -------------------------------------------------------------------------------
step 'Next steps'
cat >&3 <<EOF
Broker URL:            $app_url
Managed identity:      $identity_principal (object id)
SuperOffice redirect:  $redirect_uri

1. Entra app registration of the broker API ($api_client_id):
   - App ID URI api://$api_client_id (az ad app update --id $api_client_id --identifier-uris api://$api_client_id).
   - App roles (allowed member type: Applications): Tokens.Request, Proxy.Call, CustomerSessions.Manage, Rights.Check, Actions.Run,
     Connections.Admin, Audit.Read.
   - Token configuration: add the optional access-token claim idtyp (the broker accepts app-only tokens only).
2. Assign those app roles to each caller identity (managed identity or service principal) that needs them:
   Enterprise applications > the broker API > Users and groups, or the appRoleAssignedTo Graph API.
3. Grant the callers in the policy (--policy-file, deployed as BROKER_POLICY): tenant, object/app id, operations,
   SuperOffice tenants and users. Re-run this script after editing it.
4. SuperOffice Developer Portal: register $redirect_uri as a redirect URI of client_id $client_id
   (environment $environment).
5. Check: curl $app_url/api/health ; docs/ops.md covers rotation, revocation and reading the audit trail.
EOF

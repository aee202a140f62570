#!/usr/bin/env bash
# Installs the `receptor` command line as a global .NET tool: packs Cli/ into a local package folder and
# installs the tool from there, in place of any installed one. Run it again after a change; it always leaves
# the working tree's build installed.
#   bash scripts/install.sh
# Afterwards `receptor` runs from a fresh shell: ~/.dotnet/tools/receptor is linked into /usr/local/bin when
# that folder is writable; otherwise the script prints the PATH line to add.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is required (dotnet not found)"; exit 1; }

# The package folder is ours alone: emptied first, so that it holds this build's package and nothing else.
feed=$PWD/out/tool
rm -rf "$feed"
mkdir -p "$feed"
# The pack publishes first; build/TorchNative.targets patches the published libLibTorchSharp.so, which is
# the copy that goes into the package.
dotnet pack Cli/Cli.fsproj -c Release --nologo -v quiet -o "$feed"

# The package folder is the only source: nothing is looked up online. Every build has the same version, and
# `dotnet tool update` keeps an installed tool of the same version as it is, so the old one goes first.
if dotnet tool list --global | grep -qi '^receptor\.cli '; then
    dotnet tool uninstall --global Receptor.Cli >/dev/null
fi
dotnet tool install --global Receptor.Cli --source "$feed" --verbosity quiet >/dev/null

tools=${DOTNET_CLI_HOME:-$HOME}/.dotnet/tools
# The installed tool, run once: `init` compiles a network with TorchSharp, so this loads the packed natives.
"$tools/receptor" init Examples/zoo/lenet5.rcp >/dev/null
if command -v receptor >/dev/null && [ "$(readlink -f "$(command -v receptor)")" = "$(readlink -f "$tools/receptor")" ]; then
    echo "receptor is on the PATH: $(command -v receptor)"
elif [ -w /usr/local/bin ]; then
    ln -sfn "$tools/receptor" /usr/local/bin/receptor
    echo "receptor is on the PATH: /usr/local/bin/receptor -> $tools/receptor"
else
    echo "add the .NET tools folder to the PATH, e.g. in ~/.profile:"
    echo "  export PATH=\"\$PATH:$tools\""
fi

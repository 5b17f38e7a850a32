#!/bin/sh
# Refresh the vendored browser libraries in static/vendor/ from the versions pinned in package.json.
#
# The copies are committed, so running the app needs neither Node.js nor npm; run this only after changing
# a pinned version. npm works in a temporary directory: node_modules never appears in the source tree.
# The first run (no package-lock.json yet) resolves with `npm install` and writes the lock file back;
# later runs use `npm ci`, which installs exactly what the lock file records.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
vendor="$here/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cp "$here/package.json" "$work/"
if [ -f "$here/package-lock.json" ]; then
    cp "$here/package-lock.json" "$work/"
    (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund)
else
    (cd "$work" && npm install --ignore-scripts --no-audit --no-fund)
    cp "$work/package-lock.json" "$here/package-lock.json"
fi

modules="$work/node_modules"

# Copies one file from an installed package into static/vendor/<target>/.
copy() {
    package=$1 source=$2 target=$3
    mkdir -p "$vendor/$target"
    cp "$modules/$package/$source" "$vendor/$target/$(basename "$source")"
}

# Writes static/vendor/<target>/VERSION with the installed version of a package.
stamp() {
    package=$1 target=$2
    node -e 'process.stdout.write(require(process.argv[1]).version + "\n")' \
        "$modules/$package/package.json" > "$vendor/$target/VERSION"
}

rm -rf "$vendor/swagger-ui" "$vendor/socket.io"

# Swagger UI for the API page at /docs: the self-contained bundle and its stylesheet.
copy swagger-ui-dist swagger-ui-bundle.js swagger-ui
copy swagger-ui-dist swagger-ui.css swagger-ui
copy swagger-ui-dist LICENSE swagger-ui
stamp swagger-ui-dist swagger-ui

# Socket.IO browser client (protocol v5, the one python-socketio 5.x speaks).
copy socket.io-client dist/socket.io.min.js socket.io
copy socket.io-client LICENSE socket.io
stamp socket.io-client socket.io

echo "vendored into $vendor:"
(cd "$vendor" && find . -type f | sort)

#!/bin/sh
# Message catalogs of the pages (Babel): extract, update, compile.
#
#   frontend/i18n.sh update    extract the messages of the templates and pages.py, and merge new and
#                              changed ones into every language's .po (removed ones are dropped)
#   frontend/i18n.sh compile   compile every .po into the .mo the app loads (commit both)
#   frontend/i18n.sh           both: update, then compile
#
# Translate new entries in frontend/translations/<lang>/LC_MESSAGES/messages.po (English is the source
# language: its msgstr stay empty) and run `compile`. tests/frontend check the catalogs are complete.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pybabel=${PYBABEL:-"$root/.venv/bin/pybabel"}
[ -x "$pybabel" ] || pybabel=pybabel
translations=frontend/translations
pot=$(mktemp --suffix=.pot)
trap 'rm -f "$pot"' EXIT INT TERM

extract() {
    "$pybabel" extract --mapping-file frontend/babel.cfg --output-file "$pot" \
        --no-location --sort-output --project "Enforcement Command Center" --version 0.1.0 \
        --msgid-bugs-address "" --copyright-holder "" --keywords N_ --input-dirs . 2> /dev/null
}

update() {
    for lang in zh_Hans en; do
        po="$translations/$lang/LC_MESSAGES/messages.po"
        if [ -f "$po" ]; then
            "$pybabel" update --input-file "$pot" --output-dir "$translations" --locale "$lang" \
                --no-fuzzy-matching --ignore-obsolete
        else
            "$pybabel" init --input-file "$pot" --output-dir "$translations" --locale "$lang"
        fi
    done
}

compile() {
    "$pybabel" compile --directory "$translations" --statistics
}

case "${1:-all}" in
    update) extract; update ;;
    compile) compile ;;
    all) extract; update; compile ;;
    *) echo "usage: $0 [update|compile]" >&2; exit 2 ;;
esac

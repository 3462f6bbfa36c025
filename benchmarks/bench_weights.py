"""Benchmark the weights loader against the baselines, side by side in one run.

1. Download throughput from a local HTTP server: ``weights.fetch_file`` (hash
   while streaming, fsync, atomic rename, manifest) vs a plain socket copy of the
   same file (HTTP/1.0 GET, ``recv_into`` to a file, no hash), with and without
   an fsync at the end.
2. Warm load (file already cached): ``fetch_file`` + ``model.load_weights`` vs
   ``keras.utils.get_file`` (which re-hashes the cached file on every call) +
   ``model.load_weights``, on the same legacy-h5 ResNet50 file; and the cache
   lookup alone.

Runs alternate and the median of the repeats is reported, so both sides see the
same machine state. Usage: ``python benchmarks/bench_weights.py [--repeats N]``.
"""

import argparse
import functools
import hashlib
import http.server
import os
import pathlib
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import h5py  # noqa: E402
import keras  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

from keras_applications_bn import weights  # noqa: E402

FNAME = "resnet50_bench_weights.h5"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


def serve(root):
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def socket_copy(host, port, path, out_path, fsync):
    """The floor: GET over a bare socket, body straight into a file."""
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with socket.create_connection((host, port)) as sock, open(out_path, "wb") as out:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        out.write(head.split(b"\r\n\r\n", 1)[1])
        while n := sock.recv_into(buffer):
            out.write(view[:n])
        if fsync:
            out.flush()
            os.fsync(out.fileno())


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_weights_"))
    try:
        served = work / "served"
        served.mkdir()
        model = keras.applications.ResNet50(weights=None)
        with h5py.File(served / FNAME, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        data_size = (served / FNAME).stat().st_size
        with open(served / FNAME, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        httpd = serve(served)
        host, port = httpd.server_address[:2]
        url = f"http://{host}:{port}/{FNAME}"
        mb = data_size / 1e6
        print(f"file: {FNAME}, {mb:.1f} MB (ResNet50, legacy h5), repeats: {args.repeats}")

        # 1. download throughput
        ours, plain, plain_sync = [], [], []
        for i in range(args.repeats):
            fresh = work / f"dl{i}"
            ours.append(
                timed(lambda: weights.fetch_file(url, sha, cache_dir=fresh, progress=False))
            )
            plain.append(timed(lambda: socket_copy(host, port, f"/{FNAME}", work / "copy", False)))
            plain_sync.append(
                timed(lambda: socket_copy(host, port, f"/{FNAME}", work / "copy", True))
            )
            shutil.rmtree(fresh)
        t_ours, t_plain, t_sync = map(statistics.median, (ours, plain, plain_sync))
        print("\ndownload from a local server (median)")
        print(f"  fetch_file (sha256 while streaming, fsync, rename): {mb / t_ours:8.1f} MB/s")
        print(f"  plain socket copy:                                   {mb / t_plain:8.1f} MB/s")
        print(f"  plain socket copy + fsync:                           {mb / t_sync:8.1f} MB/s")
        print(f"  ratio ours / socket copy:          {t_plain / t_ours:.2f}")
        print(f"  ratio ours / socket copy + fsync:  {t_sync / t_ours:.2f}")

        # 2. warm load: the same cached file for both
        cache = work / "keras" / "models"
        cache.mkdir(parents=True)
        shutil.copy(served / FNAME, cache / FNAME)

        def ours_lookup():
            return weights.fetch_file(url, sha, cache_dir=cache, progress=False)

        def keras_lookup():
            return keras.utils.get_file(
                FNAME, origin=url, file_hash=sha, cache_dir=str(cache.parent), cache_subdir="models"
            )

        assert ours_lookup() == keras_lookup() == str(cache / FNAME)  # warm both, same file
        lookups = {"ours": [], "keras": []}
        loads = {"ours": [], "keras": []}
        for _ in range(args.repeats):
            for side, lookup in (("ours", ours_lookup), ("keras", keras_lookup)):
                lookups[side].append(timed(lookup))
                loads[side].append(timed(lambda: model.load_weights(lookup())))
        print("\nwarm load of the cached file (median)")
        for what, table in (("lookup only", lookups), ("lookup + load_weights", loads)):
            o, k = statistics.median(table["ours"]), statistics.median(table["keras"])
            print(
                f"  {what:<22} ours {o * 1000:8.1f} ms   keras {k * 1000:8.1f} ms   "
                f"ratio keras / ours: {k / o:.2f}"
            )
        httpd.shutdown()
        httpd.server_close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

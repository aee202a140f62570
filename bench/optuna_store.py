"""Optuna's RDBStorage (SQLite or PostgreSQL) running an empty objective, for bench/StoreBench.fs.

usage: optuna_store.py throughput URL TRIALS WORKERS  -> JSON {trials, seconds_span, seconds_wall, version}
       optuna_store.py kill URL                       -> JSON {running_after_kill, complete, states}

URL is SQLAlchemy's: sqlite:///PATH or postgresql+psycopg2://USER@HOST:PORT/DB. The workers wait at a barrier
after loading the study, so the span (first trial's start to last trial's end) holds no process start-up.
"""
import json, multiprocessing, os, signal, sys, time

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)
STUDY = "bench"


def worker(url, trials, sleep, barrier):
    study = optuna.load_study(study_name=STUDY, storage=url, sampler=optuna.samplers.RandomSampler())

    def objective(trial):
        if sleep:
            time.sleep(sleep)
        return 0.0

    if barrier is not None:
        barrier.wait()
    study.optimize(objective, callbacks=[MaxTrialsCallback(trials, states=None)])


def fresh(url):
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        try:
            optuna.delete_study(study_name=STUDY, storage=url)
        except KeyError:
            pass
    optuna.create_study(study_name=STUDY, storage=url)
    return url


def throughput(url, trials, workers):
    fresh(url)
    barrier = multiprocessing.Barrier(workers)
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=worker, args=(url, trials, 0, barrier)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    done = optuna.load_study(study_name=STUDY, storage=url).get_trials(deepcopy=False)
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    span = (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
    print(json.dumps({"trials": len(complete), "seconds_span": span, "seconds_wall": wall, "version": optuna.__version__}))


def kill(url):
    fresh(url)
    p = multiprocessing.Process(target=worker, args=(url, 100, 1.0, None))
    p.start()
    time.sleep(4.5)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    # What a user sees long after: the killed trial's state does not change.
    time.sleep(2.0)
    done = optuna.load_study(study_name=STUDY, storage=url).get_trials(deepcopy=False)
    states = {}
    for t in done:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    print(json.dumps({"running_after_kill": sum(t.state == TrialState.RUNNING for t in done),
                      "complete": sum(t.state == TrialState.COMPLETE for t in done),
                      "states": states}))


if __name__ == "__main__":
    if sys.argv[1] == "throughput":
        throughput(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        kill(sys.argv[2])

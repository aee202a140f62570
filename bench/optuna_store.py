"""Optuna's RDBStorage on SQLite running an empty objective, for bench/StoreBench.fs.

usage: optuna_store.py throughput PATH TRIALS WORKERS   -> JSON {trials, seconds_span, seconds_wall, version}
       optuna_store.py kill PATH                        -> JSON {running_after_kill, complete}
"""
import json, multiprocessing, os, signal, sys, time

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)


def worker(url, trials, sleep):
    study = optuna.load_study(study_name="bench", storage=url, sampler=optuna.samplers.RandomSampler())

    def objective(trial):
        if sleep:
            time.sleep(sleep)
        return 0.0

    study.optimize(objective, callbacks=[MaxTrialsCallback(trials, states=None)])


def fresh(path):
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    url = "sqlite:///" + path
    optuna.create_study(study_name="bench", storage=url)
    return url


def throughput(path, trials, workers):
    url = fresh(path)
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=worker, args=(url, trials, 0)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    done = optuna.load_study(study_name="bench", storage=url).get_trials(deepcopy=False)
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    span = (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
    print(json.dumps({"trials": len(complete), "seconds_span": span, "seconds_wall": wall, "version": optuna.__version__}))


def kill(path):
    url = fresh(path)
    p = multiprocessing.Process(target=worker, args=(url, 100, 1.0))
    p.start()
    time.sleep(4.5)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    done = optuna.load_study(study_name="bench", storage=url).get_trials(deepcopy=False)
    print(json.dumps({"running_after_kill": sum(t.state == TrialState.RUNNING for t in done),
                      "complete": sum(t.state == TrialState.COMPLETE for t in done)}))


if __name__ == "__main__":
    if sys.argv[1] == "throughput":
        throughput(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        kill(sys.argv[2])

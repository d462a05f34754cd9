#!/usr/bin/env python3
"""Compares a Jackson network run (`meshsim run ... --json FILE`) with
Jackson's theorem: each station i behaves as an M/M/c_i queue fed at the
rate lambda_i of the traffic equations lambda = lambda0 + lambda P, so

    rho_i = lambda_i / (c_i mu_i)
    L_i   = a Erlang-C-corrected mean number present, a = lambda_i / mu_i
    W_i   = L_i / lambda_i                       (Little's law)

    check.py RESULT.json [MORE.json ...] [--tolerance 0.05]

Prints measured against expected per station and exits 1 when a figure is
off by more than the relative tolerance, or when the runs' digests differ
(the same scenario on any node count gives the same result)."""
import argparse
import json
import math
import sys


def traffic_rates(arrival, route):
    """Solves lambda = lambda0 + lambda P by fixed-point iteration."""
    n = len(arrival)
    rate = [0.0] * n
    for _ in range(100000):
        rate = [arrival[j] + sum(rate[i] * route[i][j] for i in range(n)) for j in range(n)]
    return rate


def mmc_mean_present(lam, mu, c):
    """L of an M/M/c queue: Lq from Erlang's C formula, plus a = lambda/mu in service."""
    a = lam / mu
    rho = a / c
    head = sum(a ** k / math.factorial(k) for k in range(c))
    tail = a ** c / math.factorial(c) / (1 - rho)
    waiting_probability = tail / (head + tail)
    return waiting_probability * rho / (1 - rho) + a


def expected(params):
    n = int(params["stations"])
    arrival = [params.get(f"arrival_rate_{i}", 0.0) for i in range(1, n + 1)]
    route = [[params.get(f"route_{i}_{j}", 0.0) for j in range(1, n + 1)] for i in range(1, n + 1)]
    rates = traffic_rates(arrival, route)
    out = []
    for i in range(n):
        mu = params.get(f"service_rate_{i + 1}", 1.0)
        c = int(params.get(f"servers_{i + 1}", 1))
        mean_present = mmc_mean_present(rates[i], mu, c)
        out.append({"throughput": rates[i], "L": mean_present, "W": mean_present / rates[i]})
    return out


def measured(result):
    params = result["scenario"]["params"]
    span = result["scenario"]["end_time"] - params["warmup"]
    summary = result["summary"]
    out = []
    for i in range(1, int(params["stations"]) + 1):
        arrivals = summary[f"arrivals_{i}"]
        out.append({"throughput": arrivals / span,
                    "L": summary[f"customer_area_micro_{i}"] / 1e6 / span,
                    "W": summary[f"sojourn_sum_micro_{i}"] / 1e6 / arrivals})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    results = []
    for path in args.results:
        with open(path, encoding="utf-8") as file:
            results.append(json.load(file))
    ok = True
    digests = {(r["digest"], len(r["nodes"])) for r in results}
    if len({digest for digest, _ in digests}) != 1:
        print(f"digests differ between runs: {sorted(digests)}")
        ok = False
    want = expected(results[0]["scenario"]["params"])
    got = measured(results[0])
    print(f"{'station':>7} {'figure':>10} {'measured':>10} {'Jackson':>10} {'error':>7}")
    for i, (g, w) in enumerate(zip(got, want), start=1):
        for figure in ("throughput", "L", "W"):
            error = abs(g[figure] - w[figure]) / w[figure]
            flag = "" if error <= args.tolerance else "  <-- beyond tolerance"
            ok = ok and error <= args.tolerance
            print(f"{i:>7} {figure:>10} {g[figure]:>10.4f} {w[figure]:>10.4f} {error:>6.1%}{flag}")
    print(f"digest {results[0]['digest']} on node counts {sorted(n for _, n in digests)}: "
          f"{'all within' if ok else 'NOT within'} {args.tolerance:.0%} of Jackson's figures")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

/// Zero-cost proxies of initialised networks: synflow restores the weights and sees layer collapse, NASWOT
/// separates a batch whose ReLU codes differ from one whose codes are alike, grad-norm is the hand-computed
/// norm, scoring leaks no tensor, and a ranked proposal is the best of its pool.
module Receptor.Properties.ZeroCostTests

open System
open Expecto
open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data
open Receptor.Core.Torch
open Receptor.Core.Training
open Receptor.Search

let private network seed text =
    Parser.parseProgram "<test>" text |> Repository.unwrap |> Trainer.compile seed |> Repository.unwrap

let private convText =
    "input(1, 8, 8)\nnetwork c = conv(3, 4, padding=same) >> batchnorm >> relu >> conv(3, 6, padding=same) >> relu >> gavgpool >> flatten >> dense(10)"

/// Without biases a zeroed layer cuts every path from input to output.
let private biaslessText =
    "input(1, 8, 8)\nnetwork b = conv(3, 4, padding=same, bias=false) >> relu >> conv(3, 4, padding=same, bias=false) >> relu >> flatten >> dense(10, bias=false)"

let private batch (n: int64) =
    torch.manual_seed 3L |> ignore
    torch.randn [| n; 1L; 8L; 8L |], torch.randint (10L, [| n |], dtype = torch.int64)

let private values (network: Network) =
    network.parameters () |> Seq.map (fun p -> p.data<float32>().ToArray()) |> List.ofSeq

let private live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount

let private candidate fingerprint rejection : Candidate =
    { Architecture = ""; Fingerprint = fingerprint; Decisions = "{}"; Epochs = 1; Parameters = 0L; Macs = 0L; ReceptiveField = 0; Rejection = rejection }

let private small =
    """input(1, 12, 12)

network small =
    conv(choice(1, 3, 5), int(4, 16, step=4), padding=same) >> relu >> conv(1, choice(4, 8, 16)) >> gavgpool >> flatten >> dense(10)
"""

let tests: Test =
    testSequenced <| testList "zero-cost" [
        test "proxies parse by name, and a ranking survives the settings' JSON" {
            for p in ZeroCost.proxies do
                Expect.equal (ZeroCost.parse (ZeroCost.name p)) (Ok p) "name round trip"
            Expect.isError (ZeroCost.parse "snip") "an unknown proxy is refused"
            let settings : Strategies.Settings =
                { Strategy = Strategies.RandomSearch; Epochs = 1; Constraints = Constraints.none; Ranking = Some { Proxy = ZeroCost.Naswot; Pool = 5 } }
            Expect.equal (Strategies.ofJson (Strategies.toJson settings)) (Ok settings) "JSON round trip"
        }
        test "synflow is positive and leaves every parameter bit for bit as it was, and the network in training mode" {
            use net = network 1 convText
            let before = values net
            let images, labels = batch 4L
            let score = ZeroCost.score ZeroCost.Synflow net (images, labels)
            Expect.isGreaterThan score 0.0 "positive"
            Expect.isTrue (Double.IsFinite score) "finite"
            Expect.equal (values net) before "parameters restored exactly"
            Expect.isTrue net.training "mode restored"
            Expect.equal (ZeroCost.score ZeroCost.Synflow net (images, labels)) score "deterministic"
        }
        test "synflow of a network with a zeroed layer is 0 (layer collapse), and positive before" {
            use net = network 1 biaslessText
            let images, labels = batch 2L
            Expect.isGreaterThan (ZeroCost.score ZeroCost.Synflow net (images, labels)) 0.0 "intact"
            let weight = net.named_parameters () |> Seq.pick (fun struct (name, p) -> if name.EndsWith "weight" && p.dim () = 4L && p.shape[1] = 4L then Some p else None)
            using (torch.no_grad ()) (fun _ -> weight.zero_ () |> ignore)
            Expect.equal (ZeroCost.score ZeroCost.Synflow net (images, labels)) 0.0 "collapsed"
        }
        test "NASWOT codes the ReLU layers, and scores a batch of distinct images above a batch of one image repeated" {
            use net = network 1 convText
            let relus = ZeroCost.codedPaths net.Tree
            Expect.equal relus.Count 2 "the two ReLUs"
            for path in relus do
                Expect.equal (net.Tree |> Checked.layers |> Seq.find (fun l -> l.Path = path)).Kind.Name "relu" "only ReLUs"
            let images, labels = batch 16L
            let distinct = ZeroCost.score ZeroCost.Naswot net (images, labels)
            let alike = ZeroCost.score ZeroCost.Naswot net (images.narrow(0L, 0L, 1L).expand(16L, 1L, 8L, 8L).contiguous (), labels)
            Expect.isTrue (Double.IsFinite distinct) $"distinct codes give a full-rank kernel ({distinct})"
            Expect.isGreaterThan distinct alike "identical codes make the kernel singular"
        }
        test "NASWOT of a network without activations codes every layer" {
            use net = network 1 "input(6)\nnetwork lin = dense(5) >> dense(3)"
            Expect.equal (ZeroCost.codedPaths net.Tree).Count 2 "both layers"
        }
        test "grad-norm of a one-layer network is the norm of the cross-entropy gradient computed by hand" {
            use net = network 2 "input(4)\nnetwork one = dense(3)"
            torch.manual_seed 5L |> ignore
            let x = torch.randn [| 6L; 4L |]
            let y = torch.tensor [| 0L; 1L; 2L; 0L; 1L; 2L |]
            let score = ZeroCost.score ZeroCost.GradNorm net (x, y)
            let byHand =
                use _ = torch.no_grad ()
                let ps = net.named_parameters () |> Seq.map (fun struct (n, p) -> n, p) |> Map.ofSeq
                let w = ps |> Map.toSeq |> Seq.pick (fun (n, p) -> if n.EndsWith "weight" then Some p else None)
                let b = ps |> Map.toSeq |> Seq.pick (fun (n, p) -> if n.EndsWith "bias" then Some p else None)
                let logits = x.mm (w.t ()) + b
                // ∂(mean cross-entropy)/∂logits = (softmax − one-hot) / N.
                let delta = (logits.softmax 1L - torch.nn.functional.one_hot(y, 3L).to_type torch.float32) / 6.0f
                let gw, gb = delta.t().mm x, delta.sum 0L
                sqrt ((gw.square().sum() + gb.square().sum()).item<float32> () |> float)
            Expect.floatClose { absolute = 1e-6; relative = 1e-5 } score byHand "same norm"
            Expect.isGreaterThan score 0.0 "positive"
        }
        test "scoring by each proxy leaves the live tensor count where it was" {
            use net = network 1 convText
            let images, labels = batch 8L
            for proxy in ZeroCost.proxies do
                ZeroCost.score proxy net (images, labels) |> ignore
                let start = live ()
                for _ in 1 .. 3 do ZeroCost.score proxy net (images, labels) |> ignore
                Expect.equal (live ()) start $"{ZeroCost.name proxy}: no growth"
        }
        test "a ranked pool passes over refused candidates and proposes the best-scoring one" {
            let pool = [ candidate "a" None; candidate "b" (Some "too big"); candidate "c" None; candidate "d" None; candidate "e" None ]
            let scores = Map [ "a", 1.0; "b", 9.0; "c", 3.0; "d", nan; "e", 2.0 ]
            let queue = Collections.Generic.Queue pool
            let drawn (_: Set<string>) = if queue.Count = 0 then None else Some (queue.Dequeue ())
            let scorer : Strategies.Scorer = { Score = (fun c -> scores[c.Fingerprint]); Log = ignore }
            let best = Strategies.ranked 3 scorer drawn Set.empty
            Expect.equal (best |> Option.map (fun c -> c.Fingerprint)) (Some "c") "the best of a, c, d; b refused, e not drawn"
            let refusedOnly = Collections.Generic.Queue [ candidate "x" (Some "too big") ]
            let onlyRefused = Strategies.ranked 3 scorer (fun _ -> if refusedOnly.Count = 0 then None else Some (refusedOnly.Dequeue ())) Set.empty
            Expect.equal (onlyRefused |> Option.map (fun c -> c.Rejection)) (Some (Some "too big")) "a refusal is proposed for the store to record"
        }
        test "a ranked study's proposal is the argmax of its pool's scores, and the pool is fresh" {
            let space = Space.parse "small.rcp" small |> Repository.unwrap
            let settings : Strategies.Settings =
                { Strategy = Strategies.RandomSearch; Epochs = 1; Constraints = Constraints.none; Ranking = Some { Proxy = ZeroCost.Synflow; Pool = 6 } }
            let study : Study =
                { Name = "ranked"; Space = Printer.program space.Program; Strategy = Strategies.toJson settings; Objective = Empty
                  Budget = 4; MaxAttempts = 1; TrialSeconds = None; Seed = 1; Created = DateTimeOffset.UtcNow }
            Expect.isError (Strategies.proposer study 1) "a ranked study needs a scorer"
            let scored = Collections.Generic.List<Candidate * float>()
            let fake (c: Candidate) =
                let s = float (Convert.ToInt64(c.Fingerprint.Substring(0, 6), 16) % 997L)
                scored.Add((c, s))
                s
            let propose = Strategies.rankedProposer (Some { Score = fake; Log = ignore }) study 1 |> Result.defaultWith failtest
            match propose [] with
            | Some proposal ->
                Expect.equal scored.Count 6 "a pool of six"
                Expect.equal (scored |> Seq.map (fun (c, _) -> c.Fingerprint) |> Seq.distinct |> Seq.length) 6 "six distinct networks"
                let best, _ = scored |> Seq.maxBy snd
                Expect.equal proposal.Fingerprint best.Fingerprint "the argmax"
            | None -> failtest "a 36-network space has a proposal"
        }
    ]

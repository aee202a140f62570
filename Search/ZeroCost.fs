/// Zero-cost proxies: scores of an initialised, untrained network that rank candidates before any training.
/// Each leaves the network as it found it (parameters, buffers, mode) and creates no lasting tensors.
/// All three run with normalisation in eval mode: at initialisation its running statistics are (0, 1), so it is
/// a fixed affine map, no buffer moves, and a score does not depend on which images share the batch
/// (Tanaka et al. disable normalisation for synflow; NASWOT and grad-norm's papers use batch statistics).
module Receptor.Search.ZeroCost

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Torch

type Proxy =
    /// Tanaka et al. 2020: Σ |θ ⊙ ∂R/∂θ| with |θ| for θ and R the summed output of an all-ones image.
    | Synflow
    /// Mellor et al. 2021: log |det K_H| of the batch's kernel of ReLU codes.
    | Naswot
    /// Abdelfattah et al. 2021: the L2 norm of the cross-entropy gradients over all parameters.
    | GradNorm

let name proxy =
    match proxy with
    | Synflow -> "synflow"
    | Naswot -> "naswot"
    | GradNorm -> "grad-norm"

let proxies = [ Synflow; Naswot; GradNorm ]

let private names = proxies |> List.map name |> String.concat ", "

let parse (text: string) : Result<Proxy, string> =
    match proxies |> List.tryFind (fun p -> name p = text.ToLowerInvariant()) with
    | Some proxy -> Ok proxy
    | None -> Error $"unknown zero-cost proxy '{text}' ({names})"

/// Runs `work` in eval mode and one dispose scope, restoring the network's mode after.
let private evaluating (network: Network) (work: unit -> float) =
    let training = network.training
    network.eval ()
    try
        use _ = torch.NewDisposeScope()
        work ()
    finally
        network.train training

let private parameters (network: Network) =
    network.parameters () |> Seq.filter (fun p -> p.requires_grad) |> Seq.map (fun p -> p :> torch.Tensor) |> Array.ofSeq

let private total (t: torch.Tensor) = t.to_type(torch.float64).item<float> ()

/// Synflow in float32 (converting the modules to double would replace parameter objects that layers may hold
/// directly); the sums are taken in double. A network whose flow overflows float32 scores +∞.
let private synflow (network: Network) (images: torch.Tensor) =
    evaluating network (fun () ->
        let ps = parameters network
        let saved = ps |> Array.map (fun p -> p.detach().clone())
        try
            using (torch.no_grad ()) (fun _ -> for p in ps do p.abs_ () |> ignore)
            let ones = torch.ones (Array.append [| 1L |] images.shape[1..])
            let flow = network.forward(ones).sum ()
            let gradients = torch.autograd.grad ([| flow |], ps, allow_unused = true)
            Seq.zip ps gradients
            |> Seq.sumBy (fun (p, g) -> if isNull g || g.IsInvalid then 0.0 else total ((p.detach () * g).abs().sum ()))
        finally
            using (torch.no_grad ()) (fun _ -> Array.iter2 (fun (p: torch.Tensor) s -> p.copy_ s |> ignore) ps saved))

/// Activation kinds whose output is positive exactly where their input is: their codes are the signs of the
/// pre-activations, the ReLU codes of the paper.
let private rectifiers = set [ "relu"; "relu6"; "leaky"; "prelu"; "elu"; "selu"; "gelu"; "silu"; "mish"; "hardswish" ]

/// The paths whose outputs give NASWOT's codes: the rectifying activations, or, in a network without any,
/// every layer (the signs of its outputs are then the network's only binary pattern).
let codedPaths (tree: Checked) =
    let layers = Checked.layers tree |> List.ofSeq
    match layers |> List.filter (fun l -> rectifiers.Contains l.Kind.Name) with
    | [] -> layers |> List.map (fun l -> l.Path) |> set
    | rectifying -> rectifying |> List.map (fun l -> l.Path) |> set

let private naswot (network: Network) (images: torch.Tensor) =
    evaluating network (fun () ->
        use _ = torch.no_grad ()
        let coded = codedPaths network.Tree
        let n = images.shape[0]
        let kernel = ref (torch.zeros ([| n; n |], dtype = torch.float64))
        network.Observe(images, fun path output ->
            if coded.Contains path then
                let codes = output.reshape(n, -1L).gt(torch.tensor 0.0f).to_type torch.float64
                let off: torch.Tensor = 1.0 - codes
                // Agreements of two codes: N_A − Hamming distance = shared ones + shared zeros.
                kernel.Value <- kernel.Value + codes.mm (codes.t ()) + off.mm (off.t ()))
        |> ignore
        let struct (_, logDet) = torch.linalg.slogdet kernel.Value
        logDet.item<float> ())

let private gradNorm (network: Network) (images: torch.Tensor) (labels: torch.Tensor) =
    evaluating network (fun () ->
        let ps = parameters network
        let loss = torch.nn.functional.cross_entropy (network.forward images, labels)
        let gradients = torch.autograd.grad ([| loss |], ps, allow_unused = true)
        gradients
        |> Seq.sumBy (fun g -> if isNull g || g.IsInvalid then 0.0 else total (g.square().sum ()))
        |> sqrt)

/// The proxy's score of an initialised network on a batch (float32 images [n; dims…], int64 labels [n]);
/// higher is better for all three. No weight changes and no tensor outlives the call.
let score (proxy: Proxy) (network: Network) (images: torch.Tensor, labels: torch.Tensor) : float =
    match proxy with
    | Synflow -> synflow network images
    | Naswot -> naswot network images
    | GradNorm -> gradNorm network images labels

/// What a network's output is trained against, decided by its shape: class scores per image, or per pixel
/// (segmentation of the digits' ink, so that a segmentation-style net trains on labelled images too).
module Receptor.Core.Training.Objective

open TorchSharp
open Receptor.Dsl
open Receptor.Core.Data

type private Tensor = torch.Tensor

let private label (c: int) : Scalar = Scalar.op_Implicit (int64 c)

type Task =
    /// One score per class for each image: cross-entropy, accuracy over images.
    | Classification
    /// Scores per class and pixel on a height × width map: a pixel whose ink (the first input channel,
    /// resampled to the map by nearest neighbour) is at least ½ carries its image's label, any other pixel
    /// the background class, numbered `classes`.
    | Segmentation of classes: int * height: int * width: int

/// The ink threshold of the per-pixel labels, on pixels in [0, 1].
let inkThreshold = 0.5

/// The task of a network's output on a dataset, or why the output fits neither.
let taskOf (output: Shape) (data: Dataset) : Result<Task, string> =
    match output with
    | Flat n when n >= data.Classes -> Ok Classification
    | Flat n -> Error $"the network outputs {n} scores but the data has {data.Classes} classes"
    | Spatial (c, h, w) when c > data.Classes -> Ok (Segmentation (data.Classes, h, w))
    | Spatial (c, h, w) ->
        Error (
            $"the network outputs {c}×{h}×{w}: training takes a flat vector of class scores (end with flatten >> dense({data.Classes})) "
            + $"or per-pixel scores for the {data.Classes} classes and the background ({data.Classes + 1} channels or more)")

/// The targets of a batch: the labels for classification; for segmentation, (b, h, w) per-pixel classes.
let targets (task: Task) (input: Tensor) (labels: Tensor) : Tensor =
    match task with
    | Classification -> labels
    | Segmentation (classes, h, w) ->
        // The first channel carries the ink: it is the image itself for grey data repeated on every channel.
        let ink = input.narrow (1L, 0L, 1L)
        let ink = if ink.shape[2] = int64 h && ink.shape[3] = int64 w then ink else torch.nn.functional.interpolate (ink, [| int64 h; int64 w |])
        let background = torch.full_like(labels, label classes).view (-1L, 1L, 1L)
        torch.where (ink.squeeze(1L).ge (Scalar.op_Implicit inkThreshold), labels.view (-1L, 1L, 1L), background)

/// The mean of a per-item loss over the items where the mask holds (0 where it holds nowhere).
let private maskedMean (loss: Tensor) (mask: Tensor) =
    (loss * mask).sum () / mask.sum().clamp_min (1.0)

/// The batch's loss: cross-entropy for classification; for segmentation the mean of the ink pixels' and the
/// background pixels' mean cross-entropies, so that a few hundred ink pixels weigh as much as the frame.
let loss (task: Task) (logits: Tensor) (target: Tensor) : Tensor =
    match task with
    | Classification -> torch.nn.functional.cross_entropy (logits, target)
    | Segmentation (classes, _, _) ->
        let perPixel = torch.nn.functional.cross_entropy (logits, target, reduction = torch.nn.Reduction.None)
        let ink = target.ne(label classes).to_type perPixel.dtype
        (maskedMean perPixel ink + maskedMean perPixel (1.0 - ink)) * 0.5

/// What accuracy counts, given the predicted classes (the scores' argmax over dimension 1): (correct,
/// counted) over images for classification, over ink pixels (the digit's class read pixel by pixel) for
/// segmentation.
let score (task: Task) (predicted: Tensor) (target: Tensor) : int64 * int64 =
    match task with
    | Classification -> predicted.eq(target).sum().item<int64> (), target.shape[0]
    | Segmentation (classes, _, _) ->
        let ink = target.ne (label classes)
        predicted.eq(target).logical_and(ink).sum().item<int64> (), ink.sum().item<int64> ()

/// Per class (background last for segmentation), given the predicted classes: pixels both predicted and
/// labelled so, and pixels either predicted or labelled so; for the intersection over union of a segmentation.
let overlaps (task: Task) (predicted: Tensor) (target: Tensor) : (int64 * int64)[] =
    match task with
    | Classification -> [||]
    | Segmentation (classes, _, _) ->
        Array.init (classes + 1) (fun c ->
            let p, t = predicted.eq (label c), target.eq (label c)
            p.logical_and(t).sum().item<int64> (), p.logical_or(t).sum().item<int64> ())

/// The intersection over union averaged over the classes that occur (a union above 0), from `overlaps`
/// summed over a data set; None where there are none (classification has no overlaps).
let meanIoU (overlaps: (int64 * int64)[]) : float option =
    match overlaps |> Array.filter (fun (_, union) -> union > 0L) with
    | [||] -> None
    | occurring -> Some (occurring |> Array.averageBy (fun (i, u) -> float i / float u))

/// A sentence for the progress header.
let describe (task: Task) =
    match task with
    | Classification -> "task: classification (cross-entropy; accuracy over images)"
    | Segmentation (classes, h, w) ->
        $"task: per-pixel segmentation at {h}×{w}: ink ≥ {inkThreshold} takes the digit's class, the rest background (class {classes}); "
        + "loss: ink and background cross-entropies weighed equally; accuracy over ink pixels"

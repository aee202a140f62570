/// Seeded synthetic datasets for tests and quick experiments: a seed names one dataset on every runtime.
module Receptor.Core.Data.Synthetic

open System

/// Labels 0 .. classes-1 in equal shares (to within one), in seeded random order.
let private balancedLabels (rng: Rng) count classes =
    let labels = Array.init count (fun i -> i % classes)
    rng.Shuffle labels
    labels

let private singleChannel size classes (labels: int[]) images =
    { Images = images
      Labels = labels
      Count = labels.Length
      Channels = 1
      Height = size
      Width = size
      Classes = classes }

/// Gaussian blobs: class k is a bright blob around its own point on a circle about the image centre,
/// with a jittered position and pixel noise. Easy for any network; a smoke test for training.
let blobs seed count classes size =
    let rng = Rng seed
    let labels = balancedLabels rng count classes
    let sigma = float size / 8.0
    let images = Array.zeroCreate<float32> (count * size * size)
    for n in 0 .. count - 1 do
        let angle = 2.0 * Math.PI * float labels[n] / float classes
        let middle = float (size - 1) / 2.0
        let cy = middle + float size / 4.0 * sin angle + rng.NextGaussian()
        let cx = middle + float size / 4.0 * cos angle + rng.NextGaussian()
        for y in 0 .. size - 1 do
            for x in 0 .. size - 1 do
                let d2 = (float y - cy) ** 2.0 + (float x - cx) ** 2.0
                let v = exp (-d2 / (2.0 * sigma * sigma)) + 0.05 * rng.NextGaussian()
                images[(n * size + y) * size + x] <- float32 (Math.Clamp(v, 0.0, 1.0))
    singleChannel size classes labels images

/// 5×5 marks with nine lit pixels each, so that the amount of ink says nothing about the shape.
let marks =
    [| [| "..#.."; "..#.."; "#####"; "..#.."; "..#.." |] // plus
       [| "#...#"; ".#.#."; "..#.."; ".#.#."; "#...#" |] // cross
       [| "..#.."; ".#.#."; "#.#.#"; ".#.#."; "..#.." |] // diamond
       [| "....."; ".###."; ".###."; ".###."; "....." |] |] // block

let private markSize = 5
let private jitter = 3

/// One image of the large-receptive-field task: a mark near the left border and one near the right.
type FarPair =
    { LeftShape: int
      LeftRow: int
      LeftCol: int
      RightShape: int
      RightRow: int
      RightCol: int }

/// 1 when both marks have the same shape, else 0: no unit that sees only one mark can know it.
let label pair = if pair.LeftShape = pair.RightShape then 1 else 0

/// Draws the pair on a black size×size image.
let render size pair =
    let image = Array.zeroCreate<float32> (size * size)
    let stamp shape row col =
        marks[shape] |> Array.iteri (fun dy line -> line |> String.iteri (fun dx c -> if c = '#' then image[(row + dy) * size + col + dx] <- 1.0f))
    stamp pair.LeftShape pair.LeftRow pair.LeftCol
    stamp pair.RightShape pair.RightRow pair.RightCol
    image

/// count pairs, half of them same-shaped; each mark's shape alone is uniform whatever the label.
let farPairs seed count size =
    if size < 16 then invalidArg (nameof size) "the marks need an image of at least 16×16"
    let rng = Rng seed
    let row () = 1 + rng.NextInt(size - markSize - 1)
    balancedLabels rng count 2
    |> Array.map (fun same ->
        let left = rng.NextInt marks.Length
        let right = if same = 1 then left else (left + 1 + rng.NextInt(marks.Length - 1)) % marks.Length
        { LeftShape = left
          LeftRow = row ()
          LeftCol = 1 + rng.NextInt jitter
          RightShape = right
          RightRow = row ()
          RightCol = size - markSize - 1 - rng.NextInt jitter })

/// The large-receptive-field task as a dataset: 1×size×size images, label 1 for same-shaped marks.
let farPair seed count size =
    let pairs = farPairs seed count size
    singleChannel size 2 (pairs |> Array.map label) (pairs |> Array.collect (render size))

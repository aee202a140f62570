namespace Receptor.Core.Data

/// Labelled images shared by every data source: flat row-major NCHW float32 pixels in [0, 1].
type Dataset =
    { Images: float32[]
      Labels: int[]
      Count: int
      Channels: int
      Height: int
      Width: int
      Classes: int }

module Dataset =
    let imageSize d = d.Channels * d.Height * d.Width

    /// The first `count` images and their labels (all of them when there are fewer).
    let take count d =
        let count = min count d.Count
        { d with Images = Array.sub d.Images 0 (count * imageSize d); Labels = Array.sub d.Labels 0 count; Count = count }

    /// The pixels of image i, copied out of the flat array.
    let image i d = Array.sub d.Images (i * imageSize d) (imageSize d)

    /// How many images carry each label, indexed by label.
    let classCounts d = Array.init d.Classes (fun c -> d.Labels |> Array.sumBy (fun l -> if l = c then 1 else 0))

estimate --params 7B --dtype int4 --simple --breakdown
